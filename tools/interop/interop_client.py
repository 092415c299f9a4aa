#!/usr/bin/env python3
"""Runs the standard gRPC interop cases (grpc/doc/interop-test-descriptions.md) against a
grpc.testing.TestService server, with grpcio as the client.

usage: interop_client.py --port N [--host 127.0.0.1] --protos DIR
Prints one line per case and a final "N passed, M failed" line; exits 1 on any failure.
"""
import argparse
import concurrent.futures
import importlib
import os
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc


def generate_stubs(proto_dir, out_dir):
    files = ["empty.proto", "messages.proto", "test.proto"]
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", "-I" + proto_dir, "-I" + include, "--python_out=" + out_dir,
            "--grpc_python_out=" + out_dir] + [os.path.join(proto_dir, f) for f in files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed for " + ", ".join(files))
    sys.path.insert(0, out_dir)
    return (importlib.import_module("empty_pb2"), importlib.import_module("messages_pb2"),
            importlib.import_module("test_pb2_grpc"))


class Cases:
    def __init__(self, channel, empty_pb2, messages_pb2, test_grpc):
        self.channel = channel
        self.empty = empty_pb2
        self.m = messages_pb2
        self.stub = test_grpc.TestServiceStub(channel)
        self.unimplemented_stub = test_grpc.UnimplementedServiceStub(channel)

    def payload(self, size):
        return self.m.Payload(body=b"\0" * size)

    def expect(self, condition, message):
        if not condition:
            raise AssertionError(message)

    def expect_code(self, error, code, message=None):
        self.expect(error.code() == code, "code %s, want %s (%s)" % (error.code(), code, error.details()))
        if message is not None:
            self.expect(error.details() == message, "message %r, want %r" % (error.details(), message))

    def empty_unary(self):
        response = self.stub.EmptyCall(self.empty.Empty(), timeout=10)
        self.expect(isinstance(response, self.empty.Empty), "not an Empty")

    def large_unary(self):
        request = self.m.SimpleRequest(response_size=314159, payload=self.payload(271828))
        response = self.stub.UnaryCall(request, timeout=10)
        self.expect(len(response.payload.body) == 314159, "payload size %d" % len(response.payload.body))

    def client_streaming(self):
        sizes = [27182, 8, 1828, 45904]
        requests = (self.m.StreamingInputCallRequest(payload=self.payload(s)) for s in sizes)
        response = self.stub.StreamingInputCall(requests, timeout=10)
        self.expect(response.aggregated_payload_size == 74922, "aggregated %d" % response.aggregated_payload_size)

    def server_streaming(self):
        sizes = [31415, 9, 2653, 58979]
        request = self.m.StreamingOutputCallRequest(
            response_parameters=[self.m.ResponseParameters(size=s) for s in sizes])
        got = [len(r.payload.body) for r in self.stub.StreamingOutputCall(request, timeout=10)]
        self.expect(got == sizes, "sizes %s" % got)

    def ping_pong(self):
        request_sizes = [27182, 8, 1828, 45904]
        response_sizes = [31415, 9, 2653, 58979]
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=10)
        for req, resp in zip(request_sizes, response_sizes):
            pipe.add(self.m.StreamingOutputCallRequest(
                response_parameters=[self.m.ResponseParameters(size=resp)], payload=self.payload(req)))
            response = next(call)
            self.expect(len(response.payload.body) == resp, "response size %d" % len(response.payload.body))
        pipe.close()
        self.expect(next(call, None) is None, "extra response")

    def empty_stream(self):
        responses = list(self.stub.FullDuplexCall(iter([]), timeout=10))
        self.expect(responses == [], "got %d responses" % len(responses))

    def timeout_on_sleeping_server(self):
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=0.001)
        pipe.add(self.m.StreamingOutputCallRequest(payload=self.payload(27182)))
        try:
            next(call)
            raise AssertionError("expected DEADLINE_EXCEEDED")
        except grpc.RpcError as e:
            self.expect_code(e, grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            pipe.close()

    def cancel_after_begin(self):
        pipe = Pipe()
        future = self.stub.StreamingInputCall.future(pipe, timeout=10)
        future.cancel()
        self.expect(future.cancelled(), "not cancelled")
        pipe.close()

    def cancel_after_first_response(self):
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=10)
        pipe.add(self.m.StreamingOutputCallRequest(
            response_parameters=[self.m.ResponseParameters(size=31415)], payload=self.payload(27182)))
        response = next(call)
        self.expect(len(response.payload.body) == 31415, "response size")
        call.cancel()
        try:
            next(call)
            raise AssertionError("expected CANCELLED")
        except grpc.RpcError as e:
            self.expect_code(e, grpc.StatusCode.CANCELLED)
        finally:
            pipe.close()

    def custom_metadata(self):
        initial = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
        trailing = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
        metadata = (initial, trailing)
        request = self.m.SimpleRequest(response_size=314159, payload=self.payload(271828))
        _, call = self.stub.UnaryCall.with_call(request, metadata=metadata, timeout=10)
        self.expect(initial in call.initial_metadata(), "unary initial %s" % (call.initial_metadata(),))
        self.expect(trailing in call.trailing_metadata(), "unary trailing %s" % (call.trailing_metadata(),))
        call = self.stub.FullDuplexCall(iter([self.m.StreamingOutputCallRequest(
            response_parameters=[self.m.ResponseParameters(size=314159)], payload=self.payload(271828))]),
            metadata=metadata, timeout=10)
        self.expect(len(list(call)) == 1, "duplex responses")
        self.expect(initial in call.initial_metadata(), "duplex initial %s" % (call.initial_metadata(),))
        self.expect(trailing in call.trailing_metadata(), "duplex trailing %s" % (call.trailing_metadata(),))

    def _status_case(self, message):
        status = self.m.EchoStatus(code=2, message=message)
        try:
            self.stub.UnaryCall(self.m.SimpleRequest(response_status=status), timeout=10)
            raise AssertionError("unary: expected UNKNOWN")
        except grpc.RpcError as e:
            self.expect_code(e, grpc.StatusCode.UNKNOWN, message)
        try:
            list(self.stub.FullDuplexCall(iter([self.m.StreamingOutputCallRequest(response_status=status)]),
                                          timeout=10))
            raise AssertionError("duplex: expected UNKNOWN")
        except grpc.RpcError as e:
            self.expect_code(e, grpc.StatusCode.UNKNOWN, message)

    def status_code_and_message(self):
        self._status_case("test status message")

    def special_status_message(self):
        self._status_case("\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n")

    def unimplemented_method(self):
        try:
            self.stub.UnimplementedCall(self.empty.Empty(), timeout=10)
            raise AssertionError("expected UNIMPLEMENTED")
        except grpc.RpcError as e:
            self.expect_code(e, grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service(self):
        try:
            self.unimplemented_stub.UnimplementedCall(self.empty.Empty(), timeout=10)
            raise AssertionError("expected UNIMPLEMENTED")
        except grpc.RpcError as e:
            self.expect_code(e, grpc.StatusCode.UNIMPLEMENTED)

    def large_unary_4mb_each_way(self):
        request = self.m.SimpleRequest(response_size=4000000, payload=self.payload(4000000))
        response = self.stub.UnaryCall(request, timeout=30)
        self.expect(len(response.payload.body) == 4000000, "payload size %d" % len(response.payload.body))

    def concurrent_unary_100(self):
        request = self.m.SimpleRequest(response_size=1024, payload=self.payload(1024))
        futures = [self.stub.UnaryCall.future(request, timeout=30) for _ in range(100)]
        sizes = [len(f.result().payload.body) for f in futures]
        self.expect(sizes == [1024] * 100, "sizes %s" % set(sizes))

    def half_duplex(self):
        sizes = [31415, 9, 2653, 58979]
        requests = [self.m.StreamingOutputCallRequest(response_parameters=[self.m.ResponseParameters(size=s)])
                    for s in sizes]
        got = [len(r.payload.body) for r in self.stub.HalfDuplexCall(iter(requests), timeout=10)]
        self.expect(got == sizes, "sizes %s" % got)


class Pipe:
    """A request iterator fed from the test thread (for ping-pong style calls)."""

    def __init__(self):
        import queue
        self.queue = queue.Queue()

    def add(self, item):
        self.queue.put(item)

    def close(self):
        self.queue.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.queue.get()
        if item is None:
            raise StopIteration()
        return item


CASES = ["empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
         "timeout_on_sleeping_server", "cancel_after_begin", "cancel_after_first_response", "custom_metadata",
         "status_code_and_message", "special_status_message", "unimplemented_method", "unimplemented_service",
         "large_unary_4mb_each_way", "concurrent_unary_100", "half_duplex"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--protos", required=True)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        empty_pb2, messages_pb2, test_grpc = generate_stubs(args.protos, out_dir)
        options = [("grpc.max_receive_message_length", 16 << 20), ("grpc.max_send_message_length", 16 << 20)]
        channel = grpc.insecure_channel("%s:%d" % (args.host, args.port), options=options)
        grpc.channel_ready_future(channel).result(timeout=10)
        cases = Cases(channel, empty_pb2, messages_pb2, test_grpc)
        passed = failed = 0
        for name in args.cases.split(","):
            start = time.monotonic()
            try:
                getattr(cases, name)()
                passed += 1
                print("PASS %-28s %6.1f ms" % (name, (time.monotonic() - start) * 1000), flush=True)
            except Exception as e:  # one line per case, whatever went wrong
                failed += 1
                print("FAIL %-28s %s: %s" % (name, type(e).__name__, str(e).replace("\n", " ")[:300]), flush=True)
        channel.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
