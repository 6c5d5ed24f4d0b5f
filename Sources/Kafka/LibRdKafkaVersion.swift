import CRdKafka

/// The librdkafka the process is linked with, and what it can be trusted with.
public enum LibRdKafkaVersion {
    /// `major.minor.patch` of the loaded library (`rd_kafka_version()`).
    public static var current: (major: Int, minor: Int, patch: Int) {
        let packed = Int(rd_kafka_version())
        return ((packed >> 24) & 0xff, (packed >> 16) & 0xff, (packed >> 8) & 0xff)
    }

    /// Printable version, e.g. `2.0.2`.
    public static var description: String {
        let version = current
        return "\(version.major).\(version.minor).\(version.patch)"
    }

    /// Whether the cooperative-sticky assignor is safe to use: before 2.3.0 a consumer whose
    /// group state is torn down before its first assignment aborts the process on an assertion
    /// in `rd_kafka_sticky_assignor_state_destroy` (librdkafka issue 4312, fixed in 2.3.0).
    /// Debian 12 ships 2.0.2.
    public static var cooperativeStickyIsSafe: Bool {
        let version = current
        return (version.major, version.minor) >= (2, 3)
    }
}
