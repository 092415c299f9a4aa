// grpc.testing.TestService over the GRPC module, for the standard gRPC interop cases.
// Usage: interop-server [--host 127.0.0.1] [--port 0]   (prints "listening on port N" once serving)
import EtcdProto
import GRPC
import NIOCore
import NIOPosix

func decode<M: ProtoMessage>(_ type: M.Type, _ buffer: ByteBuffer) throws -> M {
    do {
        return try buffer.withUnsafeReadableBytes { raw throws(ProtoDecodingError) in try M(serializedBytes: raw) }
    } catch {
        throw GRPCStatus(code: .internal, message: "grpc: error unmarshalling request: \(error)")
    }
}

func encode<M: ProtoMessage>(_ message: M) -> ByteBuffer {
    ByteBuffer(bytes: message.serializedBytes())
}

func payload(size: Int32) -> Grpc_Testing_Payload {
    var p = Grpc_Testing_Payload()
    p.type = .compressable
    p.body = [UInt8](repeating: 0, count: Int(max(size, 0)))
    return p
}

/// Echoes x-grpc-test-echo-initial as a response header and x-grpc-test-echo-trailing-bin as a trailer.
func echoMetadata(_ metadata: Metadata, headers: (Metadata) -> Void, trailers: (Metadata) -> Void) {
    if let initial = metadata.first("x-grpc-test-echo-initial") {
        var m = Metadata()
        m.add("x-grpc-test-echo-initial", initial.stringValue)
        headers(m)
    }
    if let trailing = metadata.first("x-grpc-test-echo-trailing-bin") {
        var m = Metadata()
        m.add("x-grpc-test-echo-trailing-bin", binary: trailing.bytes)
        trailers(m)
    }
}

func check(_ status: Grpc_Testing_EchoStatus?) throws {
    if let status, status.code != 0 {
        throw GRPCStatus(code: GRPCStatus.Code(rawValue: Int(status.code)), message: status.message)
    }
}

func respond(to request: Grpc_Testing_StreamingOutputCallRequest, on responses: ResponseStream) async throws {
    try check(request.responseStatus)
    for parameters in request.responseParameters {
        if parameters.intervalUs > 0 { try await Task.sleep(for: .microseconds(Int(parameters.intervalUs))) }
        var response = Grpc_Testing_StreamingOutputCallResponse()
        response.payload = payload(size: parameters.size)
        try await responses.send(encode(response))
    }
}

let service = "/grpc.testing.TestService/"
let router = GRPCRouter()

router.addUnary(service + "EmptyCall") { request, _ in
    _ = try decode(Grpc_Testing_Empty.self, request)
    return encode(Grpc_Testing_Empty())
}

router.addUnary(service + "UnaryCall") { request, context in
    let r = try decode(Grpc_Testing_SimpleRequest.self, request)
    echoMetadata(context.requestMetadata, headers: context.setResponseHeaders, trailers: context.setTrailers)
    try check(r.responseStatus)
    var response = Grpc_Testing_SimpleResponse()
    response.payload = payload(size: r.responseSize)
    return encode(response)
}

router.addServerStreaming(service + "StreamingOutputCall") { request, responses, _ in
    try await respond(to: try decode(Grpc_Testing_StreamingOutputCallRequest.self, request), on: responses)
}

router.addClientStreaming(service + "StreamingInputCall") { requests, responses, _ in
    var total: Int32 = 0
    for try await message in requests {
        let r = try decode(Grpc_Testing_StreamingInputCallRequest.self, message)
        total += Int32(r.payload?.body.count ?? 0)
    }
    var response = Grpc_Testing_StreamingInputCallResponse()
    response.aggregatedPayloadSize = total
    try await responses.send(encode(response))
}

router.addBidiStreaming(service + "FullDuplexCall") { requests, responses, context in
    echoMetadata(context.requestMetadata, headers: responses.setHeaders, trailers: responses.setTrailers)
    for try await message in requests {
        try await respond(to: try decode(Grpc_Testing_StreamingOutputCallRequest.self, message), on: responses)
    }
}

router.addBidiStreaming(service + "HalfDuplexCall") { requests, responses, context in
    echoMetadata(context.requestMetadata, headers: responses.setHeaders, trailers: responses.setTrailers)
    var all: [Grpc_Testing_StreamingOutputCallRequest] = []
    for try await message in requests {
        all.append(try decode(Grpc_Testing_StreamingOutputCallRequest.self, message))
    }
    for r in all { try await respond(to: r, on: responses) }
}

var host = "127.0.0.1"
var port = 0
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
    let name = parts[0].drop { $0 == "-" }
    let value = parts.count > 1 ? parts[1] : arguments.next()
    switch (name, value) {
    case ("port", let v?) where Int(v) != nil: port = Int(v)!
    case ("host", let v?): host = v
    default:
        print("usage: interop-server [--host 127.0.0.1] [--port N]")
        exit(2)
    }
}

let server = GRPCServer(router: router)
let listener = try await server.bind(host: host, port: port, group: MultiThreadedEventLoopGroup.singleton)
print("listening on port \(listener.localAddress?.port ?? port)")
fflush(nil)
try await listener.closeFuture.get()
