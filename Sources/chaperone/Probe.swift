import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `chaperone probe`: one HTTP GET of a worker endpoint on this host, exit 0 when it answers
/// 200 and 1 otherwise. The container image's HEALTHCHECK runs it, so the image needs no curl.
struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a worker's /health or /ready on this host (exit 0 when it answers 200, else 1).",
        discussion: """
            For container health checks: GET http://HOST:PORT/ENDPOINT with a deadline; prints \
            the status (or why there is none) on one line. Exit status: 0 the endpoint answered \
            200; 1 any other status, no answer within --timeout-ms, or no connection; 64 invalid \
            arguments.
            """)

    @Argument(help: "The endpoint: health (liveness) or ready (readiness).")
    var endpoint: Endpoint = .health

    @Option(help: "The worker's HTTP port. Default: CHAPERONE_HTTP_PORT when set, else 9464.")
    var port: Int?

    @Option(help: "Host to connect to.")
    var host = "127.0.0.1"

    @Option(help: "Deadline for connecting and the answer, in milliseconds.")
    var timeoutMs = 3_000

    enum Endpoint: String, ExpressibleByArgument, CaseIterable {
        case health, ready
    }

    func validate() throws {
        if let port, !(1...65_535).contains(port) { throw ValidationError("--port must be 1...65535, not \(port)") }
        guard timeoutMs > 0 else { throw ValidationError("--timeout-ms must be positive") }
    }

    /// The port: the flag, else the worker's own setting in the environment, else its default.
    func resolvedPort() throws -> Int {
        if let port { return port }
        guard let text = ProcessInfo.processInfo.environment["CHAPERONE_HTTP_PORT"], !text.isEmpty else { return 9464 }
        guard let value = Int(text), (1...65_535).contains(value) else {
            throw ValidationError("CHAPERONE_HTTP_PORT is not a port: '\(text)'")
        }
        return value
    }

    func run() async throws {
        let port = try resolvedPort()
        let target = "http://\(host):\(port)/\(endpoint.rawValue)"
        do {
            let status = try await HTTPProbe.status(host: host, port: port, path: "/\(endpoint.rawValue)",
                                                    timeout: .milliseconds(Int64(timeoutMs)))
            print("\(target): \(status)")
            if status != 200 { throw ExitCode.failure }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            print("\(target): no answer (\(error))")
            throw ExitCode.failure
        }
    }
}

/// A single HTTP/1.1 GET that returns the response status code (the body is not read).
enum HTTPProbe {
    struct Timeout: Error, CustomStringConvertible {
        var description: String { "timed out" }
    }

    struct NoResponse: Error, CustomStringConvertible {
        var description: String { "connection closed before a response" }
    }

    static func status(host: String, port: Int, path: String, timeout: TimeAmount) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask { try await request(host: host, port: port, path: path, connectTimeout: timeout) }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeout.nanoseconds))
                throw Timeout()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw NoResponse() }
            return first
        }
    }

    private static func request(host: String, port: Int, path: String, connectTimeout: TimeAmount) async throws -> Int {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(connectTimeout)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(host):\(port)")
            headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)))
            try await outbound.write(.end(nil))
            for try await part in inbound {
                if case .head(let head) = part { return Int(head.status.code) }
            }
            throw NoResponse()
        }
    }
}
