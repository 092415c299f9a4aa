import CProtobufC
import EtcdProto
import XCTest

@testable import Gateway

/// The descriptor-driven JSON codec against what grpc-gateway (jsonpb 1.3) reads and writes in etcd
/// 3.4. Expected texts were taken from real etcd 3.4.23 answering the same JSON.
final class CodecTests: XCTestCase {
    private func descriptor<M: ProtoMessage>(_: M.Type) -> MessageDescriptor {
        M._protobufCDescriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
    }

    /// JSON text -> the Swift message protobuf-c's bytes decode to.
    private func read<M: ProtoMessage>(_ json: String, as _: M.Type = M.self, file: StaticString = #filePath,
                                       line: UInt = #line) throws -> M {
        guard case .value(let v, _) = JSONParser.next(Array(json.utf8), complete: true) else {
            XCTFail("not JSON: \(json)", file: file, line: line)
            throw JSONError("not JSON")
        }
        let bytes = try ProtoJSONReader.protobuf(from: v, as: descriptor(M.self)).get()
        return try M(serializedBytes: bytes)
    }

    /// The reader's error text for `json`.
    private func readError<M: ProtoMessage>(_ json: String, as _: M.Type) -> String? {
        switch JSONParser.next(Array(json.utf8), complete: true) {
        case .failure(let e): return e.message
        case .value(let v, _):
            if case .failure(let e) = ProtoJSONReader.protobuf(from: v, as: descriptor(M.self)) { return e.message }
            return nil
        default: return nil
        }
    }

    private func write<M: ProtoMessage>(_ message: M) -> String {
        let bytes = message.serializedBytes()
        let json = bytes.withUnsafeBytes { ProtoJSONWriter.json(fromProtobuf: $0, as: descriptor(M.self)) }
        return json.map { String(decoding: $0, as: UTF8.self) } ?? "<undecodable>"
    }

    func testScalarsEnumsAndNamesRead() throws {
        let r: Etcdserverpb_RangeRequest = try read(
            #"{"key":"Zm9v","rangeEnd":"Zm9w","limit":"10","revision":-3,"sort_order":"DESCEND","sort_target":2,"#
                + #""serializable":true,"keys_only":false,"max_create_revision":"9223372036854775807","unknown":{"x":[1]}}"#)
        var want = Etcdserverpb_RangeRequest()
        want.key = Array("foo".utf8)
        want.rangeEnd = Array("fop".utf8)
        want.limit = 10
        want.revision = -3
        want.sortOrder = .descend
        want.sortTarget = .create
        want.serializable = true
        want.maxCreateRevision = Int64.max
        XCTAssertEqual(r, want)
    }

    func testResponseWrittenAsGrpcGatewayDoes() {
        var header = Etcdserverpb_ResponseHeader()
        header.clusterID = UInt64.max
        header.memberID = 13_668_033_151_171_901_709
        header.revision = 2
        header.raftTerm = 2
        var kv = Mvccpb_KeyValue()
        kv.key = Array("foo".utf8)
        kv.value = Array("bar".utf8)
        kv.createRevision = 2
        kv.modRevision = 2
        kv.version = 1
        var r = Etcdserverpb_RangeResponse()
        r.header = header
        r.kvs = [kv, Mvccpb_KeyValue()]
        r.count = 1
        XCTAssertEqual(write(r),
                       #"{"header":{"cluster_id":"18446744073709551615","member_id":"13668033151171901709","revision":"2","#
                        + #""raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","#
                        + #""value":"YmFy"},{}],"count":"1"}"#)
        // Zero values and empty lists are left out; an empty message is {}.
        XCTAssertEqual(write(Etcdserverpb_RangeResponse()), "{}")
        var empty = Etcdserverpb_RangeResponse()
        empty.header = Etcdserverpb_ResponseHeader()
        XCTAssertEqual(write(empty), #"{"header":{}}"#)
    }

    func testStatusNamesAndUInt32() {
        var s = Etcdserverpb_StatusResponse()
        s.version = "3.4.23"
        s.dbSize = 20480
        s.errors = ["a", "b"]
        XCTAssertEqual(write(s), #"{"version":"3.4.23","dbSize":"20480","errors":["a","b"]}"#)
        var h = Etcdserverpb_HashResponse()
        h.hash = UInt32.max
        XCTAssertEqual(write(h), #"{"hash":4294967295}"#)
    }

    func testOneofsNestedAndRepeated() throws {
        let t: Etcdserverpb_TxnRequest = try read(
            #"{"compare":[{"key":"Zm9v","result":"EQUAL","target":"CREATE","create_revision":"0"},{"key":"YQ==","value":""}],"#
                + #""success":[{"request_put":{"key":"Zm9v","value":"YmFy"}},{"requestTxn":{"success":[{"request_range":null}]}}]}"#)
        XCTAssertEqual(t.compare.count, 2)
        XCTAssertEqual(t.compare[0].targetUnion, .createRevision(0))
        XCTAssertEqual(t.compare[1].targetUnion, .value([]))
        XCTAssertEqual(t.success.count, 2)
        XCTAssertEqual(t.success[0].requestPut.value, Array("bar".utf8))
        guard case .requestTxn(let inner)? = t.success[1].request else { return XCTFail("no nested txn") }
        XCTAssertEqual(inner.success.first?.request, .requestRange(Etcdserverpb_RangeRequest()))
        // A set oneof member is written even at its zero value.
        XCTAssertEqual(write(t.compare[0]), #"{"target":"CREATE","key":"Zm9v","create_revision":"0"}"#)
        XCTAssertEqual(write(t.compare[1]), #"{"key":"YQ==","value":""}"#)
        var unknown = Etcdserverpb_Compare()
        unknown.result = Etcdserverpb_Compare.CompareResult(rawValue: 7)
        XCTAssertEqual(write(unknown), #"{"result":7}"#)
    }

    func testRepeatedEnumsStringsAndBools() throws {
        let w: Etcdserverpb_WatchRequest = try read(
            #"{"create_request":{"key":"YQ==","filters":["NODELETE",0],"prev_kv":true,"watch_id":"-1"}}"#)
        guard case .createRequest(let c)? = w.requestUnion else { return XCTFail("no create request") }
        XCTAssertEqual(c.filters, [.nodelete, .noput])
        XCTAssertTrue(c.prevKv)
        XCTAssertEqual(c.watchID, -1)
        XCTAssertEqual(write(c), #"{"key":"YQ==","filters":["NODELETE","NOPUT"],"prev_kv":true,"watch_id":"-1"}"#)
        let m: Etcdserverpb_Member = try read(#"{"ID":"7","name":"<a&b>\n\u00e9","peerURLs":["http://x"],"isLearner":true}"#)
        XCTAssertEqual(m.name, "<a&b>\né")
        // Go escapes HTML characters and control characters.
        XCTAssertEqual(write(m), #"{"ID":"7","name":"\u003ca\u0026b\u003e\n\#u{e9}","peerURLs":["http://x"],"isLearner":true}"#)
    }

    func testNullsLeaveDefaults() throws {
        let r: Etcdserverpb_RangeRequest = try read(#"{"key":null,"limit":null,"serializable":null,"sort_order":null}"#)
        XCTAssertEqual(r, Etcdserverpb_RangeRequest())
        let e: Etcdserverpb_RangeRequest = try read("null")
        XCTAssertEqual(e, Etcdserverpb_RangeRequest())
        let quotedNull: Etcdserverpb_RangeRequest = try read(#"{"limit":"null"}"#)
        XCTAssertEqual(quotedNull.limit, 0)
    }

    func testRoundTripThroughJSON() throws {
        var put = Etcdserverpb_PutRequest()
        put.key = [0, 255, 10]
        put.value = Array(repeating: 7, count: 100)
        put.lease = Int64.min
        put.prevKv = true
        var op = Etcdserverpb_RequestOp()
        op.request = .requestPut(put)
        var cmp = Etcdserverpb_Compare()
        cmp.target = .mod
        cmp.modRevision = 5
        cmp.rangeEnd = [0]
        var t = Etcdserverpb_TxnRequest()
        t.compare = [cmp]
        t.success = [op, op]
        let json = write(t)
        let back: Etcdserverpb_TxnRequest = try read(json)
        XCTAssertEqual(back, t)
        XCTAssertEqual(back.serializedBytes(), t.serializedBytes())
    }

    func testGoErrorTexts() {
        let cases: [(String, String)] = [
            (#"{"key":"Zm9"}"#, "illegal base64 data at input byte 0"),
            (#"{"key":"Zm9v-_"}"#, "illegal base64 data at input byte 4"),
            (#"{"key":"Zm=v"}"#, "illegal base64 data at input byte 2"),
            (#"{"key":"Zg="}"#, "illegal base64 data at input byte 3"),
            (#"{"key":"Zg==x"}"#, "illegal base64 data at input byte 4"),
            (#"{"limit":1.5}"#, "json: cannot unmarshal number 1.5 into Go value of type int64"),
            (#"{"limit":1e2}"#, "json: cannot unmarshal number 1e2 into Go value of type int64"),
            (#"{"limit":99999999999999999999}"#, "json: cannot unmarshal number 99999999999999999999 into Go value of type int64"),
            (#"{"limit":"abc"}"#, "invalid character 'a' looking for beginning of value"),
            (#"{"limit":""}"#, "unexpected end of JSON input"),
            (#"{"limit":"1 2"}"#, "invalid character '2' after top-level value"),
            (#"{"limit":true}"#, "json: cannot unmarshal bool into Go value of type int64"),
            (#"{"limit":[]}"#, "json: cannot unmarshal array into Go value of type int64"),
            (#"{"serializable":"true"}"#, "json: cannot unmarshal string into Go value of type bool"),
            (#"{"key":12}"#, "json: cannot unmarshal number into Go value of type []uint8"),
            (#"{"sort_order":"SIDEWAYS"}"#, #"unknown value "SIDEWAYS" for enum etcdserverpb.RangeRequest_SortOrder"#),
            (#"{"sort_order":1.5}"#, "json: cannot unmarshal number 1.5 into Go value of type etcdserverpb.RangeRequest_SortOrder"),
            (#"{"sort_order":true}"#, "json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder"),
            ("[]", "json: cannot unmarshal array into Go value of type map[string]json.RawMessage"),
            ("5", "json: cannot unmarshal number into Go value of type map[string]json.RawMessage"),
            (#"{"key":"#, "unexpected EOF"),
            (#"{"key":"YQ==",}"#, "invalid character '}' looking for beginning of object key string"),
            (#"{"key" "YQ=="}"#, "invalid character '\"' after object key"),
            (#"{"key":"YQ==" "x":1}"#, "invalid character '\"' after object key:value pair"),
            (#"{"a":[1 2]}"#, "invalid character '2' after array element"),
            (#"{"a":tru}"#, "invalid character '}' in literal true (expecting 'e')"),
            (#"{"a":nul}"#, "invalid character '}' in literal null (expecting 'l')"),
            (#"{"a":-}"#, "invalid character '}' in numeric literal"),
            (#"{"a":1.}"#, "invalid character '}' after decimal point in numeric literal"),
            (#"{"a":1e}"#, "invalid character '}' in exponent of numeric literal"),
            ("{\"a\":\"\u{1}\"}", "invalid character '\\x01' in string literal"),
            (#"{"a":"\q"}"#, "invalid character 'q' in string escape code"),
            (#"{"a":"\u12x4"}"#, #"invalid character 'x' in \u hexadecimal character escape"#),
            ("{'a':1}", #"invalid character '\'' looking for beginning of object key string"#),
            (#"{"compare":5}"#, "json: cannot unmarshal number into Go value of type []json.RawMessage"),
            (#"{"compare":[5]}"#, "json: cannot unmarshal number into Go value of type map[string]json.RawMessage"),
        ]
        for (json, want) in cases {
            if json.contains("compare") {
                XCTAssertEqual(readError(json, as: Etcdserverpb_TxnRequest.self), want, json)
            } else {
                XCTAssertEqual(readError(json, as: Etcdserverpb_RangeRequest.self), want, json)
            }
        }
        XCTAssertEqual(readError(#"{"hash":-1}"#, as: Etcdserverpb_HashResponse.self),
                       "json: cannot unmarshal number -1 into Go value of type uint32")
        XCTAssertEqual(readError(#"{"header":{"cluster_id":"-1"}}"#, as: Etcdserverpb_RangeResponse.self),
                       "json: cannot unmarshal number -1 into Go value of type uint64")
    }

    func testBase64() {
        for text in ["", "a", "ab", "abc", "abcd", "\u{0}\u{ff}"] {
            var out: [UInt8] = []
            let bytes = Array(text.utf8)
            bytes.withUnsafeBufferPointer { Base64.encode($0, into: &out) }
            XCTAssertEqual(try Base64.decode(String(decoding: out, as: UTF8.self)).get(), bytes)
        }
        XCTAssertEqual(try Base64.decode("Zm9v\nYmFy\r\n").get(), Array("foobar".utf8))
        XCTAssertEqual(try Base64.decode("Zg==").get(), Array("f".utf8))
    }

    func testStreamOfObjects() {
        let body = Array(#" {"a":1} {"b":[2]}{"c":"#.utf8)
        guard case .value(let first, let n) = JSONParser.next(body, complete: false) else { return XCTFail("no first") }
        XCTAssertEqual(first, .object([("a", .number("1"))]))
        let rest = Array(body[n...])
        guard case .value(let second, let m) = JSONParser.next(rest, complete: false) else { return XCTFail("no second") }
        XCTAssertEqual(second, .object([("b", .array([.number("2")]))]))
        XCTAssertEqual(JSONParser.next(Array(rest[m...]), complete: false), .incomplete)
        XCTAssertEqual(JSONParser.next(Array(rest[m...]), complete: true), .failure(.unexpectedEOF))
        XCTAssertEqual(JSONParser.next(Array("  \n".utf8), complete: true), .empty)
        // A number at the end of what has arrived may go on.
        XCTAssertEqual(JSONParser.next(Array("12".utf8), complete: false), .incomplete)
    }

    func testHostileInputNeverCrashes() {
        let deep = String(repeating: "[", count: 100_000)
        XCTAssertEqual(JSONParser.next(Array(deep.utf8), complete: true), .failure(JSONError("exceeded max depth")))
        let deepTxn = String(repeating: #"{"success":[{"request_txn":"#, count: 200) + "{}" + String(repeating: "}]}", count: 200)
        // Deeper than the parser allows: refused, not recursed into.
        XCTAssertNotNil(readError(deepTxn, as: Etcdserverpb_TxnRequest.self))
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]":,0123456789-+.eEtruefalsnl \"\\/abcZm9v=u"#.utf8)
        for _ in 0..<3000 {
            let n = Int.random(in: 0..<60, using: &rng)
            let bytes = (0..<n).map { _ in
                Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            if case .value(let v, _) = JSONParser.next(bytes, complete: true) {
                _ = ProtoJSONReader.protobuf(from: v, as: descriptor(Etcdserverpb_TxnRequest.self))
                _ = ProtoJSONReader.protobuf(from: v, as: descriptor(Etcdserverpb_WatchRequest.self))
            }
            _ = bytes.withUnsafeBytes { ProtoJSONWriter.json(fromProtobuf: $0, as: descriptor(Etcdserverpb_TxnResponse.self)) }
        }
    }
}
