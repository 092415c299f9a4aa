// Client port decoders below HTTP: gRPC's length-prefixed framing, the protobuf request messages
// the services accept, and the JSON gateway's body reader.
import CProtobufC
import EtcdProto
import Gateway
import GRPC
import NIOCore

extension FuzzTargets {
    /// MessageDeframer over the input cut into chunks; byte 0 picks the cuts, byte 1 the limit.
    static let grpcFraming = FuzzTarget(
        name: "grpc-framing", summary: "gRPC 5-byte length-prefixed message framing (MessageDeframer)",
        run: { bytes in
            var r = InputReader(bytes)
            let cuts = r.byte()
            let limit = [0, 1, 16, 1024, 4 << 20][Int(r.byte()) % 5]
            var deframer = MessageDeframer(maxMessageSize: limit)
            let allocator = ByteBufferAllocator()
            var total = 0
            for chunk in chunks(r.rest, sizes: cuts) {
                do {
                    try chunk.withUnsafeBytes { raw in
                        try deframer.consume(raw, allocator: allocator) { message in
                            precondition(message.readableBytes <= limit, "a message above the limit came out")
                            total += message.readableBytes
                        }
                    }
                } catch {
                    return  // the call is failed with RESOURCE_EXHAUSTED / INTERNAL
                }
            }
            precondition(total <= bytes.count, "more message bytes than input")
            _ = deframer.isIdle
        },
        seeds: {
            func framed(_ m: [UInt8]) -> [UInt8] {
                [0] + withUnsafeBytes(of: UInt32(m.count).bigEndian) { Array($0) } + m
            }
            var range = Etcdserverpb_RangeRequest()
            range.key = Array("foo".utf8)
            let one = framed(range.serializedBytes())
            return [[0, 4] + one, [3, 4] + one + one, [1, 2] + framed([]) + one, [0, 1] + framed(Array(repeating: 7, count: 20))]
        })

    /// Every request type the client port decodes, from the same bytes. A decoded message must
    /// encode and decode back to itself.
    static let protoRequests = FuzzTarget(
        name: "proto-requests", summary: "protobuf-c decoding of every request message of the client port",
        run: { bytes in
            for decode in requestDecoders { decode(bytes) }
        },
        seeds: {
            var put = Etcdserverpb_PutRequest()
            put.key = Array("key".utf8)
            put.value = Array("value".utf8)
            put.lease = 7
            var cmp = Etcdserverpb_Compare()
            cmp.key = Array("key".utf8)
            cmp.result = .equal
            cmp.target = .version
            cmp.version = 3
            var op = Etcdserverpb_RequestOp()
            op.requestPut = put
            var txn = Etcdserverpb_TxnRequest()
            txn.compare = [cmp]
            txn.success = [op]
            var nested = Etcdserverpb_RequestOp()
            nested.requestTxn = txn
            txn.failure = [nested]
            var watch = Etcdserverpb_WatchCreateRequest()
            watch.key = Array("a".utf8)
            watch.rangeEnd = Array("b".utf8)
            watch.filters = [.noput]
            var w = Etcdserverpb_WatchRequest()
            w.createRequest = watch
            var user = Etcdserverpb_AuthUserAddRequest()
            user.name = "root"
            user.password = "secret"
            var member = Etcdserverpb_MemberAddRequest()
            member.peerUrls = ["http://127.0.0.1:2380"]
            member.isLearner = true
            return [put.serializedBytes(), txn.serializedBytes(), w.serializedBytes(), user.serializedBytes(),
                    member.serializedBytes()]
        })

    /// One JSON body read as every gateway route's request message (jsonpb rules), plus the
    /// streaming reader (several values one after another).
    static let gatewayJSON = FuzzTarget(
        name: "gateway-json", summary: "JSON gateway body parsing (JSONParser, ProtoJSONReader) into every route's request",
        run: { bytes in
            for complete in [true, false] {
                var rest = bytes[...]
                var values = 0
                while values < 16, case .value(let v, let consumed) = JSONParser.next(Array(rest), complete: complete) {
                    precondition(consumed > 0 && consumed <= rest.count, "JSONParser consumed \(consumed) of \(rest.count)")
                    rest = rest.dropFirst(consumed)
                    values += 1
                    if complete && values == 1 {
                        for d in requestDescriptors {
                            if case .success(let pb) = ProtoJSONReader.protobuf(from: v, as: d.pointer) {
                                // What the reader packed must be protobuf the C decoder takes back.
                                let m = pb.withUnsafeBufferPointer { protobuf_c_message_unpack(d.pointer, nil, $0.count, $0.baseAddress) }
                                precondition(m != nil, "ProtoJSONReader packed bytes \(String(cString: d.pointer.pointee.name)) cannot unpack")
                                protobuf_c_message_free_unpacked(m, nil)
                            }
                        }
                    }
                }
            }
        },
        seeds: {
            [#"{"key":"Zm9v","range_end":"Zm9w","limit":"10","sort_order":"DESCEND"}"#,
             #"{"compare":[{"key":"a2V5","result":"EQUAL","target":"VALUE","value":"dg=="}],"success":[{"requestPut":{"key":"a2V5","value":"dg=="}}]}"#,
             #"{"create_request":{"key":"YQ==","start_revision":1}} {"progress_request":{}}"#,
             #"{"name":"root","password":"x","options":{"no_password":true}}"#,
             #"{"ID":"7","TTL":60,"keys":true,"peerURLs":["http://a:2380"],"revision":-1.5e3,"x":null}"#]
                .map { Array($0.utf8) }
        })
}

/// A protobuf-c descriptor pointer (static data) that may be shared.
struct DescriptorBox: @unchecked Sendable {
    let pointer: MessageDescriptor
    init<M: ProtoMessage>(_ type: M.Type) {
        pointer = M._protobufCDescriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
    }
}

/// Decodes `M` from the input; on success the re-encoding must decode to the same value.
private func roundTrip<M: ProtoMessage>(_ type: M.Type) -> @Sendable ([UInt8]) -> Void {
    { bytes in
        guard let m = try? M(serializedBytes: bytes) else { return }
        let again = m.serializedBytes()
        precondition(again.count == m.serializedSize(), "\(M.protoMessageName): serializedSize disagrees with the encoding")
        let back = try? M(serializedBytes: again)
        precondition(back == m, "\(M.protoMessageName) does not survive encode/decode")
    }
}

/// The request (and request-like) messages the client port, the gateway and the peer lease
/// endpoints decode.
let requestTypes: [any ProtoMessage.Type] = [
    Etcdserverpb_RangeRequest.self, Etcdserverpb_PutRequest.self, Etcdserverpb_DeleteRangeRequest.self,
    Etcdserverpb_TxnRequest.self, Etcdserverpb_CompactionRequest.self, Etcdserverpb_HashRequest.self,
    Etcdserverpb_HashKVRequest.self, Etcdserverpb_SnapshotRequest.self, Etcdserverpb_WatchRequest.self,
    Etcdserverpb_LeaseGrantRequest.self, Etcdserverpb_LeaseRevokeRequest.self, Etcdserverpb_LeaseKeepAliveRequest.self,
    Etcdserverpb_LeaseTimeToLiveRequest.self, Etcdserverpb_LeaseLeasesRequest.self, Etcdserverpb_MemberAddRequest.self,
    Etcdserverpb_MemberRemoveRequest.self, Etcdserverpb_MemberUpdateRequest.self, Etcdserverpb_MemberListRequest.self,
    Etcdserverpb_MemberPromoteRequest.self, Etcdserverpb_DefragmentRequest.self, Etcdserverpb_MoveLeaderRequest.self,
    Etcdserverpb_AlarmRequest.self, Etcdserverpb_StatusRequest.self, Etcdserverpb_AuthEnableRequest.self,
    Etcdserverpb_AuthDisableRequest.self, Etcdserverpb_AuthenticateRequest.self, Etcdserverpb_AuthUserAddRequest.self,
    Etcdserverpb_AuthUserGetRequest.self, Etcdserverpb_AuthUserDeleteRequest.self,
    Etcdserverpb_AuthUserChangePasswordRequest.self, Etcdserverpb_AuthUserGrantRoleRequest.self,
    Etcdserverpb_AuthUserRevokeRoleRequest.self, Etcdserverpb_AuthRoleAddRequest.self, Etcdserverpb_AuthRoleGetRequest.self,
    Etcdserverpb_AuthUserListRequest.self, Etcdserverpb_AuthRoleListRequest.self, Etcdserverpb_AuthRoleDeleteRequest.self,
    Etcdserverpb_AuthRoleGrantPermissionRequest.self, Etcdserverpb_AuthRoleRevokePermissionRequest.self,
    V3electionpb_CampaignRequest.self, V3electionpb_LeaderRequest.self, V3electionpb_ResignRequest.self,
    V3electionpb_ProclaimRequest.self, V3lockpb_LockRequest.self, V3lockpb_UnlockRequest.self,
    Grpc_Health_V1_HealthCheckRequest.self, Leasepb_LeaseInternalRequest.self,
    // Replicated from the leader in raft entries.
    Etcdserverpb_InternalRaftRequest.self, Etcdserverpb_Request.self,
]

private func decoder<M: ProtoMessage>(_ t: M.Type) -> @Sendable ([UInt8]) -> Void { roundTrip(t) }
private func descriptor<M: ProtoMessage>(_ t: M.Type) -> DescriptorBox { DescriptorBox(t) }

let requestDecoders: [@Sendable ([UInt8]) -> Void] = requestTypes.map { decoder($0) }
let requestDescriptors: [DescriptorBox] = requestTypes.map { descriptor($0) }
