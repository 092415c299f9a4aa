import EtcdProto
import NIOCore
import Raft
import XCTest
@testable import Transport

final class CodecTests: XCTestCase {
    static func sampleApp(term: UInt64 = 5, index: UInt64 = 10, count: Int = 3, commit: UInt64 = 9) -> Raft.Message {
        let entries = (0..<count).map { i in
            Raft.Entry(term: term, index: index + 1 + UInt64(i), type: i == 1 ? .confChange : .normal,
                       data: i == 0 ? [] : Array("entry-\(i)".utf8))
        }
        return Raft.Message(type: .app, to: 2, from: 1, term: term, logTerm: term, index: index,
                            entries: entries, commit: commit)
    }

    func testMessageConversionRoundTrips() throws {
        let snap = Raft.Snapshot(data: [1, 2, 3], metadata: SnapshotMetadata(
            confState: ConfState(voters: [1, 2, 3], learners: [4]), index: 77, term: 6))
        let messages: [Raft.Message] = [
            Self.sampleApp(),
            Raft.Message(type: .vote, to: 2, from: 1, term: 3, logTerm: 2, index: 8, context: Array("CampaignTransfer".utf8)),
            Raft.Message(type: .appResp, to: 1, from: 2, term: 3, index: 9, reject: true, rejectHint: 4),
            Raft.Message(type: .heartbeat, to: 2, from: 1, term: 3, commit: 4, context: [9, 9]),
            Raft.Message(type: .snap, to: 2, from: 1, term: 6, snapshot: snap),
        ]
        for m in messages {
            XCTAssertEqual(try Raft.Message(raftpbBytes: m.raftpbBytes()), m)
        }
    }

    /// The bytes gogoproto writes for a small MsgHeartbeat: every scalar, the empty snapshot with
    /// its metadata and conf state (auto_leave false), reject and rejectHint; no context.
    func testEncodingMatchesGogoproto() {
        let m = Raft.Message(type: .heartbeat, to: 2, from: 1, term: 3, commit: 4)
        let expected: [UInt8] = [
            0x08, 0x08, 0x10, 0x02, 0x18, 0x01, 0x20, 0x03, 0x28, 0x00, 0x30, 0x00, 0x40, 0x04,
            0x4a, 0x0a, 0x12, 0x08, 0x0a, 0x02, 0x28, 0x00, 0x10, 0x00, 0x18, 0x00,
            0x50, 0x00, 0x58, 0x00,
        ]
        XCTAssertEqual(m.raftpbBytes(), expected)
        // Entry: Type, Term, Index always; Data only when present.
        XCTAssertEqual(Raftpb_Entry(Raft.Entry(term: 2, index: 3)).serializedBytes(), [0x08, 0x00, 0x10, 0x02, 0x18, 0x03])
    }

    func testConversionRejectsUnknownKinds() {
        var pb = Raftpb_Message(Self.sampleApp())
        pb.type = Raftpb_MessageType(rawValue: 42)
        XCTAssertThrowsError(try Raft.Message(pb))
        pb = Raftpb_Message(Self.sampleApp())
        pb.entries[0].type = .entryConfChangeV2
        XCTAssertThrowsError(try Raft.Message(pb))
        var snap = Raftpb_Message(Raft.Message(type: .snap, to: 2, from: 1, snapshot: Raft.Snapshot(metadata: .init(index: 1))))
        snap.snapshot?.metadata?.confState?.votersOutgoing = [3]
        XCTAssertThrowsError(try Raft.Message(snap))
    }

    func testConfChangeAndHardStateConversion() throws {
        let cc = Raft.ConfChange(id: 7, type: .addLearnerNode, nodeID: 99, context: Array("{}".utf8))
        XCTAssertEqual(try Raft.ConfChange(Raftpb_ConfChange(serializedBytes: Raftpb_ConfChange(cc).serializedBytes())), cc)
        let hs = Raft.HardState(term: 4, vote: 2, commit: 10)
        XCTAssertEqual(Raft.HardState(try Raftpb_HardState(serializedBytes: Raftpb_HardState(hs).serializedBytes())), hs)
    }

    // MARK: message stream

    func testMessageStreamDecodesAcrossArbitraryChunks() throws {
        let messages = [Self.sampleApp(), Raft.Message(type: .heartbeat, to: 2, from: 1, term: 5, commit: 3),
                        Self.sampleApp(term: 6, index: 13, count: 0)]
        var wire = ByteBuffer()
        for m in messages { MessageFraming.encode(m, into: &wire) }
        MessageFraming.encode(Raftpb_Message.linkHeartbeat, into: &wire)
        let bytes = Array(wire.readableBytesView)
        for chunkSize in [1, 2, 7, 64, bytes.count] {
            var d = MessageStreamDecoder(maxMessageBytes: 1 << 20)
            var out: [Raftpb_Message] = []
            var i = 0
            while i < bytes.count {
                d.feed(ByteBuffer(bytes: bytes[i..<min(i + chunkSize, bytes.count)]))
                while let m = try d.next() { out.append(m) }
                i += chunkSize
            }
            XCTAssertEqual(out.count, 4)
            XCTAssertEqual(try out.prefix(3).map { try Raft.Message($0) }, messages)
            XCTAssertTrue(out[3].isLinkHeartbeat)
        }
    }

    func testMessageStreamRejectsOversizedAndGarbage() {
        var d = MessageStreamDecoder(maxMessageBytes: 100)
        var b = ByteBuffer()
        b.writeInteger(UInt64(101), endianness: .big)
        d.feed(b)
        XCTAssertThrowsError(try d.next()) { XCTAssertEqual($0 as? CodecError, .exceedsLimit(101)) }

        var g = MessageStreamDecoder(maxMessageBytes: 100)
        var garbage = ByteBuffer()
        garbage.writeInteger(UInt64(4), endianness: .big)
        garbage.writeBytes([0xff, 0xff, 0xff, 0xff])
        g.feed(garbage)
        XCTAssertThrowsError(try g.next())
    }

    // MARK: msgappv2

    func testMsgAppV2SequenceUsesAppEntriesAndRoundTrips() throws {
        var enc = MsgAppV2Encoder()
        var dec = MsgAppV2Decoder(local: 2, remote: 1, maxMessageBytes: 1 << 20)
        // First append: full message (type 2). Then continuations in the same term: AppEntries (1).
        let first = Self.sampleApp(term: 5, index: 10, count: 3, commit: 9)
        let second = Self.sampleApp(term: 5, index: 13, count: 2, commit: 13)
        let third = Self.sampleApp(term: 5, index: 15, count: 0, commit: 15)
        // A different term (or a gap) falls back to a full message.
        let fourth = Self.sampleApp(term: 6, index: 15, count: 1, commit: 15)
        var wire = ByteBuffer()
        var kinds: [UInt8] = []
        for m in [first, second, third, fourth] {
            let before = wire.writerIndex
            enc.encode(m, into: &wire)
            kinds.append(wire.getInteger(at: before)!)
        }
        enc.encodeLinkHeartbeat(into: &wire)
        XCTAssertEqual(kinds, [2, 1, 1, 2])
        dec.feed(wire)
        var out: [Raftpb_Message] = []
        while let m = try dec.next() { out.append(m) }
        XCTAssertEqual(out.count, 5)
        XCTAssertTrue(out[4].isLinkHeartbeat)
        XCTAssertEqual(try out.prefix(4).map { try Raft.Message($0) }, [first, second, third, fourth])
    }

    func testMsgAppV2PartialChunks() throws {
        var enc = MsgAppV2Encoder()
        var wire = ByteBuffer()
        let msgs = (0..<5).map { Self.sampleApp(term: 3, index: UInt64(10 + $0 * 2), count: 2, commit: 1) }
        for m in msgs { enc.encode(m, into: &wire) }
        let bytes = Array(wire.readableBytesView)
        for chunk in [1, 3, 9, 17] {
            var dec = MsgAppV2Decoder(local: 2, remote: 1, maxMessageBytes: 1 << 20)
            var out: [Raft.Message] = []
            var i = 0
            while i < bytes.count {
                dec.feed(ByteBuffer(bytes: bytes[i..<min(i + chunk, bytes.count)]))
                while let m = try dec.next() { out.append(try Raft.Message(m)) }
                i += chunk
            }
            XCTAssertEqual(out, msgs)
        }
    }

    func testMsgAppV2RejectsBadRecords() {
        func decode(_ bytes: [UInt8], max: Int = 1000) -> Error? {
            var d = MsgAppV2Decoder(local: 2, remote: 1, maxMessageBytes: max)
            d.feed(ByteBuffer(bytes: bytes))
            do { while try d.next() != nil {} } catch { return error }
            return nil
        }
        XCTAssertEqual(decode([7]) as? CodecError, .unknownRecordType(7))
        XCTAssertEqual(decode([2, 0, 0, 0, 0, 0, 0, 0x10, 0]) as? CodecError, .exceedsLimit(4096))
        XCTAssertEqual(decode([1, 0xff, 0, 0, 0, 0, 0, 0, 0]) as? CodecError, .tooManyEntries(0xff00_0000_0000_0000))
        XCTAssertEqual(decode([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]) as? CodecError,
                       .malformedEntry)
        XCTAssertNil(decode([1, 0, 0, 0, 0, 0, 0, 0, 1]))  // truncated: waits for more
    }

    /// Random bytes never crash either decoder; they either wait for more or throw.
    func testFuzzedInputNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        var seeds: [[UInt8]] = []
        var wire = ByteBuffer()
        var enc = MsgAppV2Encoder()
        for m in [Self.sampleApp(), Self.sampleApp(term: 5, index: 13, count: 2)] { enc.encode(m, into: &wire) }
        seeds.append(Array(wire.readableBytesView))
        var w2 = ByteBuffer()
        MessageFraming.encode(Self.sampleApp(), into: &w2)
        seeds.append(Array(w2.readableBytesView))
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = seeds[round % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            } else {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            var a = MsgAppV2Decoder(local: 2, remote: 1, maxMessageBytes: 4096)
            a.feed(ByteBuffer(bytes: bytes))
            while let m = try? a.next() { _ = try? Raft.Message(m) }
            var b = MessageStreamDecoder(maxMessageBytes: 4096)
            b.feed(ByteBuffer(bytes: bytes))
            while let m = try? b.next() { _ = try? Raft.Message(m) }
        }
    }
}
