import Foundation

/// The CPU instructions a build's numeric code needs, and whether this machine has them.
///
/// The numeric targets are compiled for a target CPU (`CHAPERONE_TARGET_CPU`, `haswell` by
/// default on x86_64). On a CPU without those instructions the first kernel would die with an
/// illegal instruction; `chaperone` checks first and says what is missing instead. This file is
/// compiled without the target CPU, so the check itself runs anywhere.
public struct BuildTarget: Sendable, Equatable {
    /// The target CPU name (`haswell`), or nil for a build that runs on any CPU of its architecture.
    public var cpu: String?
    /// The `/proc/cpuinfo` flags that CPU implies and the code may use.
    public var requiredFlags: [String]

    public init(cpu: String?, requiredFlags: [String]) {
        self.cpu = cpu
        self.requiredFlags = requiredFlags
    }

    /// The flags of `cpuinfo` (the text of `/proc/cpuinfo`) that this build needs and the CPU
    /// lacks; empty when it can run. The first `flags` line is read (every core reports the same).
    public func missingFlags(cpuinfo: String) -> [String] {
        guard !requiredFlags.isEmpty else { return [] }
        let flags = CPUInfo(cpuinfo: cpuinfo).flags
        return requiredFlags.filter { !flags.contains($0) }
    }

    /// The refusal a person reads when the CPU lacks `missing`.
    public func refusal(missing: [String]) -> String {
        "this build of chaperone is compiled for \(cpu ?? "another CPU") and needs the CPU instructions "
            + "\(missing.joined(separator: ", ")), which this CPU lacks; rebuild with CHAPERONE_TARGET_CPU=x86-64 "
            + "for a build that runs on any x86_64 CPU"
    }

    /// Haswell's additions over baseline x86_64 that compiled code may use.
    public static let haswell = BuildTarget(
        cpu: "haswell", requiredFlags: ["sse4_2", "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "abm"])
}

/// What `/proc/cpuinfo` says of the CPU (its first core; every core reports the same): the model
/// name and the instruction-set flags. Benchmarks record it, since which kernels a peer library
/// picks depends on it.
public struct CPUInfo: Sendable, Equatable {
    /// `model name`, or nil when the text has none.
    public var model: String?
    /// The `flags` line's words.
    public var flags: Set<String>

    public init(cpuinfo: String) {
        func value(_ key: String) -> Substring? {
            guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
                  let colon = line.firstIndex(of: ":") else { return nil }
            return line[line.index(after: colon)...]
        }
        model = value("model name").map { $0.trimmingCharacters(in: .whitespaces) }
        flags = Set((value("flags") ?? "").split(separator: " ").map(String.init))
    }

    /// The vector extensions among `flags` that decide which kernels a library runs, in order
    /// of arrival.
    public var vectorExtensions: [String] {
        ["avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"].filter(flags.contains)
    }
}
