import Kafka

/// What this build of Chaperone is: its version and the git commit of its sources (written at
/// build time by the BuildInfo plugin), shown by `chaperone --version` and exported as the
/// `chaperone_build_info` gauge so dashboards can tell which build each worker runs.
public enum BuildInfo {
    /// The release version; bumped with each release.
    public static let version = "1.0.0"
    /// The git commit the build came from, `+dirty` when the tree had uncommitted changes, or
    /// `unknown` (no git at build time and no `SOURCE_COMMIT`).
    public static let commit = GeneratedBuildInfo.commit

    /// The librdkafka the process is linked with.
    public static var librdkafka: String { LibRdKafkaVersion.description }

    /// `1.0.0 (commit 0123abcd…, librdkafka 2.0.2)`: the `--version` text.
    public static var description: String {
        "\(version) (commit \(commit), librdkafka \(librdkafka))"
    }
}
