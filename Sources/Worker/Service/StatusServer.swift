import Hummingbird
import Logging
import Prometheus

/// The worker's HTTP endpoints (Hummingbird):
/// - `GET /metrics`: Prometheus text exposition of every swift-metrics value, the process
///   metrics and `chaperone_build_info` (``ProcessMetrics``);
/// - `GET /health`: 200 while the worker makes progress (liveness), 503 with the reason when
///   its request loop or the request in hand made none for `stallTimeout` (zero: never);
/// - `GET /ready`: 200 when the worker takes work, else 503 with the reasons, one per line.
public enum StatusServer {
    /// The application to run as a service, bound to `host:port`.
    public static func application(
        host: String, port: Int, registry: PrometheusCollectorRegistry, health: WorkerHealth, logger: Logger,
        stallTimeout: Duration = .zero
    ) -> some ApplicationProtocol {
        let router = Router()
        let process = ProcessMetrics(registry: registry)
        router.get("metrics") { _, _ -> Response in
            process.update()
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("health") { _, _ -> Response in
            if stallTimeout > .zero, let stall = health.stall(timeout: stallTimeout) {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "stalled: \(stall)\n")))
            }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("ready") { _, _ -> Response in
            if health.isReady {
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            }
            let text = health.problems.joined(separator: "\n") + "\n"
            return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "chaperone-worker"), logger: logger)
    }
}
