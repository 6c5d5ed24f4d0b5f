import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// `chaperone probe` (the image's HEALTHCHECK) against a one-connection HTTP listener on
/// loopback: exit 0 only for a 200, 1 for another status, a closed port or a silent server.
@Suite struct ProbeCommandTests {
    /// A loopback listener that accepts one connection and answers with `reply` (or nothing).
    final class Listener: @unchecked Sendable {
        let port: Int
        private let socket: Int32
        private let thread: Thread

        init(reply: String?) throws {
            let (listening, boundPort) = try LoopbackSocket.bound(listeningWith: 4)
            socket = listening
            port = boundPort
            thread = Thread {
                let connection = accept(listening, nil, nil)
                guard connection >= 0 else { return }
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = recv(connection, &buffer, buffer.count, 0)
                if let reply {
                    _ = Array(reply.utf8).withUnsafeBytes { send(connection, $0.baseAddress, $0.count, 0) }
                } else {
                    Thread.sleep(forTimeInterval: 3)   // silent: the probe's deadline must end it
                }
                close(connection)
            }
            thread.start()
        }

        deinit { close(socket) }
    }

    static func probe(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ChaperoneCommand.binary())
        process.arguments = ["probe"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    static func response(_ status: String) -> String {
        "HTTP/1.1 \(status)\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    }

    @Test func okIsExitZero() throws {
        let listener = try Listener(reply: Self.response("200 OK"))
        let result = try Self.probe(["health", "--port", "\(listener.port)"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("/health: 200"))
    }

    @Test func unavailableIsExitOne() throws {
        let listener = try Listener(reply: Self.response("503 Service Unavailable"))
        let result = try Self.probe(["ready", "--port", "\(listener.port)"])
        #expect(result.status == 1)
        #expect(result.output.contains("/ready: 503"))
    }

    @Test func aSilentServerIsExitOneAtTheDeadline() throws {
        let listener = try Listener(reply: nil)
        let result = try Self.probe(["--port", "\(listener.port)", "--timeout-ms", "300"])
        #expect(result.status == 1)
        #expect(result.output.contains("timed out"), "\(result.output)")
    }

    @Test func aClosedPortIsExitOne() throws {
        // A port bound but never listened on, then released: connecting is refused.
        let port = try LoopbackSocket.freePort()
        #expect(port > 0)
        let result = try Self.probe(["--port", "\(port)", "--timeout-ms", "1000"])
        #expect(result.status == 1)
        #expect(result.output.contains("no answer"))
    }

    @Test func thePortComesFromTheWorkersSetting() throws {
        let listener = try Listener(reply: Self.response("200 OK"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ChaperoneCommand.binary())
        process.arguments = ["probe"]
        process.environment = ["CHAPERONE_HTTP_PORT": "\(listener.port)"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        _ = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let invalid = try Self.probe(["--port", "70000"])
        #expect(invalid.status == 64)
    }
}
