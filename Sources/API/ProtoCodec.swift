import EtcdProto
import GRPC
import NIOCore
import Server

/// Typed unary handlers over the GRPC module's byte handlers: decode the request, run the body,
/// encode the response, and turn server errors into etcd's statuses (the one table in
/// `StatusTable.swift`).
extension GRPCRouter {
    func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ path: String, _ body: @escaping @Sendable (Request, ServerContext) async throws(ServerError) -> Response
    ) {
        addUnary(path) { buffer, context in
            let request: Request = try ProtoCodec.decode(buffer)
            // The client's token travels with the task, for the server to resolve where etcd does.
            // Without credentials (and none inherited) nothing is bound: a task-local binding
            // allocates, and most calls carry no token.
            let run = { () async -> Result<Response, ServerError> in
                do throws(ServerError) {
                    return .success(try await body(request, context))
                } catch {
                    return .failure(error)
                }
            }
            let credentials = RequestCredentials.from(context)
            let result = credentials == nil && RequestCredentials.current == nil
                ? await run() : await RequestCredentials.$current.withValue(credentials) { await run() }
            switch result {
            case .success(let response): return ProtoCodec.encode(response)
            case .failure(let error): throw error.grpcStatus
            }
        }
    }
}

enum ProtoCodec {
    static let allocator = ByteBufferAllocator()

    /// Decodes a request; a malformed message fails the call as grpc-go does.
    static func decode<M: ProtoMessage>(_ buffer: ByteBuffer) throws(GRPCStatus) -> M {
        do {
            return try buffer.withUnsafeReadableBytes { bytes throws(ProtoDecodingError) in
                try M(serializedBytes: bytes)
            }
        } catch {
            throw GRPCStatus(code: .internal, message: "grpc: error unmarshalling request: \(error)")
        }
    }

    /// Builds the C message once for both its size and its bytes.
    static func encode<M: ProtoMessage>(_ message: M) -> ByteBuffer {
        message.withSerializer { size, write in
            var buffer = allocator.buffer(capacity: size)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { write($0) }
            return buffer
        }
    }
}
