import Foundation
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The process metrics Prometheus clients conventionally export, read from `/proc/self` at
/// each scrape, and `chaperone_build_info`:
/// - `process_resident_memory_bytes`, `process_virtual_memory_bytes`
/// - `process_cpu_seconds_total` (user + system), `process_start_time_seconds` (Unix time)
/// - `process_open_fds`, `process_max_fds`
/// - `chaperone_build_info{version,commit,librdkafka}` = 1
/// On a system without `/proc` only the build info is exported.
public final class ProcessMetrics: Sendable {
    /// One reading of `/proc/self`.
    public struct Sample: Sendable, Equatable {
        public var residentBytes: Double
        public var virtualBytes: Double
        public var cpuSeconds: Double
        public var startTimeSeconds: Double
        public var openFileDescriptors: Double
        public var maxFileDescriptors: Double
    }

    private let resident: Gauge
    private let virtual: Gauge
    private let cpu: Counter
    private let startTime: Gauge
    private let openFDs: Gauge
    private let maxFDs: Gauge
    /// The CPU seconds already counted, so the counter grows by each scrape's difference.
    private let countedCPU = Mutex<Double>(0)

    public init(registry: PrometheusCollectorRegistry) {
        resident = registry.makeGauge(name: "process_resident_memory_bytes")
        virtual = registry.makeGauge(name: "process_virtual_memory_bytes")
        cpu = registry.makeCounter(name: "process_cpu_seconds_total")
        startTime = registry.makeGauge(name: "process_start_time_seconds")
        openFDs = registry.makeGauge(name: "process_open_fds")
        maxFDs = registry.makeGauge(name: "process_max_fds")
        registry.makeGauge(
            name: "chaperone_build_info",
            labels: [("version", BuildInfo.version), ("commit", BuildInfo.commit), ("librdkafka", BuildInfo.librdkafka)]
        ).set(to: 1.0)
        update()
    }

    /// Reads `/proc/self` into the gauges; call before each exposition.
    public func update() {
        guard let sample = Self.sample() else { return }
        resident.set(to: sample.residentBytes)
        virtual.set(to: sample.virtualBytes)
        startTime.set(to: sample.startTimeSeconds)
        openFDs.set(to: sample.openFileDescriptors)
        maxFDs.set(to: sample.maxFileDescriptors)
        let delta = countedCPU.withLock { counted -> Double in
            let delta = max(0, sample.cpuSeconds - counted)
            counted = max(counted, sample.cpuSeconds)
            return delta
        }
        if delta > 0 { cpu.increment(by: delta) }
    }

    /// The current reading, or nil where `/proc/self/stat` cannot be read.
    public static func sample() -> Sample? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let fields = statFields(stat) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        // After the command name: field 3 is the state, so index k is field k + 3 of proc(5).
        func field(_ number: Int) -> Double { Double(fields[number - 3]) ?? 0 }
        let bootTime = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("btime ") }
            .flatMap { Double($0.dropFirst(6).trimmingCharacters(in: .whitespaces)) } ?? 0
        let openFDs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        var limit = rlimit()
        let maxFDs = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Double(limit.rlim_cur) : 0
        return Sample(
            residentBytes: field(24) * pageSize, virtualBytes: field(23),
            cpuSeconds: (field(14) + field(15)) / ticks, startTimeSeconds: bootTime + field(22) / ticks,
            openFileDescriptors: Double(openFDs), maxFileDescriptors: maxFDs)
    }

    /// The fields of `/proc/self/stat` from the state (field 3) on; the command name (field 2)
    /// may hold spaces and parentheses, so the split starts after its last `)`.
    static func statFields(_ stat: String) -> [Substring]? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        return fields.count >= 22 ? fields : nil
    }
}
