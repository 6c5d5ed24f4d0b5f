/// A readiness check of a dependency the worker otherwise only meets while it works a request
/// (the audit database). ``WorkerService`` runs it every `interval` while it has no request in
/// hand, so an idle worker reports not ready during an outage, and ready again once a check
/// passes; while a request is worked, the request path marks the dependency itself.
public struct IdleProbe: Sendable {
    /// The ``WorkerHealth`` key it marks (`audit`, the key the request path uses too).
    public var dependency: String
    /// Time between the end of one check and the start of the next.
    public var interval: Duration
    /// A check that has not answered after this long marks the dependency unavailable (it keeps
    /// running, and its answer still counts).
    public var timeout: Duration
    /// Throws when the dependency is not usable.
    public var check: @Sendable () async throws -> Void

    public init(dependency: String, interval: Duration, timeout: Duration, check: @escaping @Sendable () async throws -> Void) {
        self.dependency = dependency
        self.interval = interval
        self.timeout = timeout
        self.check = check
    }
}
