/// How long a connection may wait for PostgreSQL, and how it notices a dead peer.
///
/// A database can fail by going silent rather than by refusing: a stopped server process, a
/// frozen virtual machine, a network path that drops packets. Without bounds a libpq call then
/// blocks in a socket read for as long as the kernel keeps the connection, and the worker neither
/// reports itself unready nor gets on with anything else. These settings bound every wait:
///
/// - `connectTimeout` bounds opening a connection (TCP, TLS, start-up and authentication).
/// - `statementTimeout` is sent to the server as the session's `statement_timeout`, so a slow
///   statement is cancelled there (SQLSTATE 57014, the connection stays usable). The client
///   also waits at most the session's statement timeout plus ``responseGrace`` for any answer:
///   a server that is stopped cannot enforce its own timeout, so after that the connection is
///   dropped and the call throws a retriable `timedOut` error.
/// - `tcpUserTimeout` makes the kernel drop a connection whose sent data stays unacknowledged
///   that long (a peer gone from the network); `keepalives` probe an idle connection.
///
/// A libpq URL (or `key=value` string) wins over these for the keywords it names
/// (`connect_timeout`, `tcp_user_timeout`, `keepalives*`); a `statement_timeout` in its
/// `options` wins over `statementTimeout`, and the client-side wait then follows it.
public struct ConnectionSettings: Sendable, Equatable {
    /// Probes of an idle connection (libpq `keepalives_idle`, `keepalives_interval`,
    /// `keepalives_count`, in whole seconds): a peer that misses `count` probes is dead.
    public struct Keepalives: Sendable, Equatable {
        /// Idle time before the first probe.
        public var idleSeconds: Int
        /// Time between unanswered probes.
        public var intervalSeconds: Int
        /// Unanswered probes before the connection is dropped.
        public var count: Int

        public init(idleSeconds: Int = 10, intervalSeconds: Int = 5, count: Int = 3) {
            self.idleSeconds = idleSeconds
            self.intervalSeconds = intervalSeconds
            self.count = count
        }
    }

    /// Longest time to open a connection; nil waits as long as the kernel lets it. Default: 5 s.
    public var connectTimeout: Duration?
    /// The session's `statement_timeout`; nil leaves the server's setting. Default: 10 s.
    public var statementTimeout: Duration?
    /// libpq `tcp_user_timeout`; nil leaves the kernel's default. Default: 10 s.
    public var tcpUserTimeout: Duration?
    /// TCP keepalive probes; nil leaves them off. Default: 10 s idle, 5 s apart, 3 probes.
    public var keepalives: Keepalives?

    /// How much longer than the session's statement timeout the client waits for an answer
    /// before it gives the server up: enough for the server's own cancellation to arrive first.
    public static let responseGrace: Duration = .seconds(1)

    public init(
        connectTimeout: Duration? = .seconds(5), statementTimeout: Duration? = .seconds(10),
        tcpUserTimeout: Duration? = .seconds(10), keepalives: Keepalives? = Keepalives()
    ) {
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.tcpUserTimeout = tcpUserTimeout
        self.keepalives = keepalives
    }

    /// No bound at all: libpq's and the server's defaults.
    public static let unbounded = ConnectionSettings(connectTimeout: nil, statementTimeout: nil, tcpUserTimeout: nil, keepalives: nil)

    /// The libpq keywords these settings stand for, defaults that a URL may override (the
    /// statement timeout is not among them: it travels in `options`, see ``optionsPrefix``).
    var libpqKeywords: [(String, String)] {
        var pairs: [(String, String)] = []
        if let connectTimeout {
            // libpq counts whole seconds (and treats 1 as 2); the client's own deadline uses the exact value.
            pairs.append(("connect_timeout", "\(max(2, Self.wholeSecondsRoundingUp(connectTimeout)))"))
        }
        if let tcpUserTimeout { pairs.append(("tcp_user_timeout", "\(max(1, Self.milliseconds(tcpUserTimeout)))")) }
        if let keepalives {
            pairs += [
                ("keepalives", "1"), ("keepalives_idle", "\(max(1, keepalives.idleSeconds))"),
                ("keepalives_interval", "\(max(1, keepalives.intervalSeconds))"), ("keepalives_count", "\(max(1, keepalives.count))"),
            ]
        }
        return pairs
    }

    /// The start of the `options` keyword: `-c statement_timeout=<ms>`, placed before any
    /// options of the URL so that a `statement_timeout` there wins (the last `-c` counts).
    var optionsPrefix: String? {
        statementTimeout.map { "-c statement_timeout=\(Self.milliseconds($0))" }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    static func wholeSecondsRoundingUp(_ duration: Duration) -> Int64 {
        (milliseconds(duration) + 999) / 1000
    }
}
