import NIOCore

/// Looks at the first bytes of a connection and hands it to gRPC or to an HTTP/1.1 fallback.
///
/// The HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, prior knowledge) selects gRPC; any other
/// first bytes go to the fallback, which adds its own handlers (e.g. NIOHTTP1's). Without a fallback such a
/// connection is closed. Bytes read while deciding are replayed to the chosen handlers, then the sniffer
/// removes itself. Not `Sendable`: loop-confined like every channel handler.
public final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private enum State {
        case sniffing
        case waitingForFallback
        case done
    }

    private let onHTTP2: (Channel) -> EventLoopFuture<Void>
    private let onOther: ((Channel) -> EventLoopFuture<Void>)?
    private var state = State.sniffing
    private var buffered: ByteBuffer?
    private var inactive = false
    private let timeout: TimeAmount?
    private var timer: Scheduled<Void>?

    /// - Parameters:
    ///   - onHTTP2: adds the gRPC handlers (called on the event loop).
    ///   - onOther: adds HTTP/1.1 handlers, or nil to close non-HTTP/2 connections.
    ///   - timeout: closes a connection that has not sent enough bytes to decide within this time.
    public init(onHTTP2: @escaping (Channel) -> EventLoopFuture<Void>,
                onOther: ((Channel) -> EventLoopFuture<Void>)?,
                timeout: TimeAmount? = .seconds(20)) {
        self.onHTTP2 = onHTTP2
        self.onOther = onOther
        self.timeout = timeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        guard let timeout else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (me, context) = bound.value
            if case .sniffing = me.state {
                me.state = .done
                me.buffered = nil
                context.close(promise: nil)
            }
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .done = state {
            context.fireChannelRead(data)
            return
        }
        var bytes = unwrapInboundIn(data)
        if buffered == nil {
            buffered = bytes
        } else {
            buffered!.writeBuffer(&bytes)
        }
        guard case .sniffing = state else { return }
        let seen = buffered!.readableBytesView
        let n = min(seen.count, Self.preface.count)
        let matches = seen.prefix(n).elementsEqual(Self.preface.prefix(n))
        if matches && n < Self.preface.count { return }  // need more bytes to decide
        if matches {
            hand(context: context, to: onHTTP2)
        } else if let onOther {
            hand(context: context, to: onOther)
        } else {
            state = .done
            buffered = nil
            context.close(promise: nil)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if case .done = state { context.fireChannelReadComplete() }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        timer?.cancel()
        timer = nil
        if case .done = state { context.fireChannelInactive() }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A connection still deciding when the server shuts down has no call to finish.
        if event is GRPCGracefulShutdownEvent, case .sniffing = state {
            state = .done
            buffered = nil
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func hand(context: ChannelHandlerContext, to configure: (Channel) -> EventLoopFuture<Void>) {
        state = .waitingForFallback
        timer?.cancel()
        timer = nil
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        configure(context.channel).hop(to: context.eventLoop).whenComplete { result in
            let (me, context) = loopBound.value
            me.finish(context: context, succeeded: (try? result.get()) != nil)
        }
    }

    private func finish(context: ChannelHandlerContext, succeeded: Bool) {
        state = .done
        guard succeeded else {
            buffered = nil
            context.close(promise: nil)
            return
        }
        if let bytes = buffered {
            buffered = nil
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
        if inactive { context.fireChannelInactive() }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

@available(*, unavailable)
extension ProtocolSniffer: Sendable {}
