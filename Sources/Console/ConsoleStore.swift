import AuditStore
import Contracts
import Foundation
import Synchronization

/// The console's access to the audit database.
///
/// Sessions and logins are read as the console's own database role (`chaperone_console`,
/// migration 005); everything a page shows is read inside a transaction that first runs
/// `SET LOCAL ROLE chaperone_analyst` or `chaperone_reviewer` for the logged-in user's role, so
/// the database itself refuses what the role may not do (an analyst's request cannot insert a
/// verdict even if the console had a bug). Requests are spread over a few connections.
public final class ConsoleStore: Sendable {
    private let connections: [Connection]
    private let next = Atomic<Int>(0)
    /// How long a session lasts after login.
    public let sessionLifetime: Duration

    public init(connections: [Connection], sessionLifetime: Duration = .seconds(8 * 3600)) {
        precondition(!connections.isEmpty, "the console needs at least one database connection")
        self.connections = connections
        self.sessionLifetime = sessionLifetime
    }

    /// Opens `count` connections to `url`.
    public static func connect(url: String, overrides: [String: String] = [:], count: Int = 4, sessionLifetime: Duration = .seconds(8 * 3600))
        async throws -> ConsoleStore
    {
        var connections: [Connection] = []
        for _ in 0..<max(1, count) {
            connections.append(try await Connection.connect(url: url, overrides: overrides))
        }
        return ConsoleStore(connections: connections, sessionLifetime: sessionLifetime)
    }

    public func close() async {
        for connection in connections { await connection.close() }
    }

    private var connection: Connection {
        connections[next.wrappingAdd(1, ordering: .relaxed).oldValue % connections.count]
    }

    /// Runs `body` in a transaction as `role`'s database role, with times in UTC.
    func read<Value: Sendable>(as role: ConsoleRole, _ body: @escaping @Sendable (SQLSession) throws -> Value) async throws -> Value {
        try await connection.transaction(retryOnConnectionLoss: true) { session in
            try session.query("SET LOCAL ROLE \(identifier: role.databaseRole)")
            try session.query("SET LOCAL TIME ZONE 'UTC'")
            return try body(session)
        }
    }

    // MARK: Logins and sessions

    /// A hash compared against when the user does not exist, so a missing name takes as long
    /// to refuse as a wrong password.
    private static let decoyHash = try! PasswordHash.make(password: "decoy", salt: Array(repeating: 7, count: 16), iterations: PasswordHash.defaultIterations)

    /// Checks `password` for `name`; on success opens a session and returns its cookie token
    /// and the session. Nil when the name or password is wrong.
    public func login(name: String, password: String) async throws -> (token: String, session: ConsoleSession)? {
        guard !name.isEmpty, name.utf8.count <= 64, !name.utf8.contains(0), !password.utf8.contains(0) else { return nil }
        let row = try await connection.query(
            "SELECT role, password_hash FROM console_users WHERE name = \(name)", retryOnConnectionLoss: true
        ).rows.first
        guard let row, let role = ConsoleRole(rawValue: try row.decode("role")) else {
            _ = Self.decoyHash.verify(password)
            return nil
        }
        let hash = try PasswordHash(parsing: try row.decode("password_hash"))
        guard hash.verify(password) else { return nil }
        let token = Token.make()
        let csrf = Token.make()
        let seconds = Int(sessionLifetime.components.seconds)
        try await connection.transaction(retryOnConnectionLoss: true) { session in
            try session.query("DELETE FROM console_sessions WHERE expires_at < now()")
            try session.query("""
                INSERT INTO console_sessions (token_sha256, user_name, csrf_token, expires_at)
                VALUES (\(SHA256.hex(Array(token.utf8))), \(name), \(csrf), now() + make_interval(secs => \(seconds)))
                """)
        }
        return (token, ConsoleSession(user: name, role: role, csrfToken: csrf))
    }

    /// The live session of a cookie token, nil when there is none (expired, logged out, unknown).
    public func session(token: String) async throws -> ConsoleSession? {
        guard Token.isWellFormed(token) else { return nil }
        let row = try await connection.query("""
            SELECT s.user_name, u.role, s.csrf_token
            FROM console_sessions s JOIN console_users u ON u.name = s.user_name
            WHERE s.token_sha256 = \(SHA256.hex(Array(token.utf8))) AND s.expires_at > now()
            """, retryOnConnectionLoss: true).rows.first
        guard let row, let role = ConsoleRole(rawValue: try row.decode("role")) else { return nil }
        return ConsoleSession(user: try row.decode("user_name"), role: role, csrfToken: try row.decode("csrf_token"))
    }

    /// Ends the session of a cookie token.
    public func logout(token: String) async throws {
        guard Token.isWellFormed(token) else { return }
        try await connection.query(
            "DELETE FROM console_sessions WHERE token_sha256 = \(SHA256.hex(Array(token.utf8)))", retryOnConnectionLoss: true)
    }

    // MARK: Decisions

    /// A page of decisions matching `filter`, newest first; `hasMore` when a next page exists.
    public func decisions(_ filter: DecisionFilter, page: Int, pageSize: Int, as role: ConsoleRole) async throws
        -> (rows: [DecisionSummary], hasMore: Bool)
    {
        guard page >= 0, (1...500).contains(pageSize) else { throw ConsoleError.invalidInput("page must be 0 or more, page size 1…500") }
        let f = filter
        let attribute = f.attributeParts
        let query: SQLQuery = """
            SELECT a.request_id, a.tenant, a.decided_at, a.decision, a.prompt, a.attributes::text AS attributes,
                   (SELECT string_agg(DISTINCT (r ->> 'scorer') || '/' || (r ->> 'label'), ' ')
                    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(a.reasons) = 'array' THEN a.reasons ELSE '[]'::jsonb END) r
                    WHERE jsonb_typeof(r) = 'object' AND coalesce(r ->> 'action', '') <> 'allow') AS triggers,
                   (x.published_image_base64 IS NOT NULL OR x.published_image_ref IS NOT NULL) AS has_image,
                   l.verdict
            FROM (
                SELECT * FROM audit_decisions
                WHERE (\(f.tenant)::text IS NULL OR tenant = \(f.tenant))
                  AND (\(f.decision?.rawValue)::text IS NULL OR decision = \(f.decision?.rawValue))
                  AND (\(f.from)::timestamptz IS NULL OR decided_at >= \(f.from))
                  AND (\(f.to)::timestamptz IS NULL OR decided_at < \(f.to))
                  AND (\(f.requestID)::text IS NULL OR starts_with(request_id, \(f.requestID)))
                  AND (\(attribute?.key)::text IS NULL OR attributes ? \(attribute?.key))
                  AND (\(attribute?.value)::text IS NULL OR attributes ->> \(attribute?.key) = \(attribute?.value))
                  AND (\(f.category)::text IS NULL OR EXISTS (
                        SELECT FROM jsonb_array_elements(CASE WHEN jsonb_typeof(reasons) = 'array' THEN reasons ELSE '[]'::jsonb END) r
                        WHERE jsonb_typeof(r) = 'object' AND r ->> 'label' = \(f.category) AND coalesce(r ->> 'action', '') <> 'allow'))
                ORDER BY decided_at DESC, request_id
                LIMIT \(pageSize + 1) OFFSET \(page * pageSize)
            ) a
            LEFT JOIN audit_decision_details x USING (request_id)
            LEFT JOIN audit_review_latest l USING (request_id)
            ORDER BY a.decided_at DESC, a.request_id
            """
        let rows = try await read(as: role) { session in
            try session.query(query).map { row in
                DecisionSummary(
                    requestID: try row.decode("request_id"), tenant: try row.decodeIfPresent("tenant"),
                    decidedAt: try row.decode("decided_at"), decision: try .init(column: row, "decision"),
                    prompt: try row.decodeIfPresent("prompt"),
                    triggers: (try row.decodeIfPresent("triggers", as: String.self) ?? "").split(separator: " ").map(String.init),
                    hasPublishedImage: try row.decode("has_image"),
                    latestVerdict: try row.decodeIfPresent("verdict", as: String.self).flatMap(Verdict.init(rawValue:)),
                    attributesJSON: try row.decodeIfPresent("attributes"))
            }
        }
        return (Array(rows.prefix(pageSize)), rows.count > pageSize)
    }

    /// Tenants and recent harm categories, for the filter form.
    public func filterChoices(as role: ConsoleRole) async throws -> (tenants: [String], categories: [String]) {
        try await read(as: role) { session in
            let tenants: [String] = try session.query(
                "SELECT DISTINCT tenant FROM audit_summary WHERE tenant IS NOT NULL ORDER BY tenant"
            ).map { try $0.decode("tenant") }
            let categories: [String] = try session.query("""
                SELECT DISTINCT r ->> 'label' AS category
                FROM (SELECT reasons FROM audit_decisions WHERE decision IN ('censor', 'block') ORDER BY decided_at DESC LIMIT 5000) d
                CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.reasons) = 'array' THEN d.reasons ELSE '[]'::jsonb END) r
                WHERE jsonb_typeof(r) = 'object' AND r ? 'label' AND coalesce(r ->> 'action', '') <> 'allow'
                ORDER BY 1
                """).map { try $0.decode("category") }
            return (tenants, categories)
        }
    }

    /// One decision with everything its page shows; nil when there is none.
    public func decision(requestID: String, as role: ConsoleRole) async throws -> DecisionDetail? {
        let query: SQLQuery = """
            SELECT a.request_id, a.request_id_synthetic, a.tenant, a.decided_at, a.decision, a.reasons::text AS reasons,
                   a.prompt, a.negative_prompt, a.mitigations::text AS mitigations, a.scores::text AS scores,
                   a.image_sha256, a.model_sha256, a.overlay_sha256, a.request_sha256, a.worker_id, a.topic, a."partition",
                   a."offset", a.published_topic, a.attributes::text AS attributes, x.tries::text AS tries,
                   x.published_result::text AS published_result, x.published_image_base64, x.published_image_ref,
                   x.published_image_sha256, x.raw_request
            FROM audit_decisions a LEFT JOIN audit_decision_details x USING (request_id)
            WHERE a.request_id = \(requestID)
            """
        return try await read(as: role) { session in
            guard let row = try session.query(query).rows.first else { return nil }
            return DecisionDetail(
                requestID: try row.decode("request_id"), requestIDIsSynthetic: try row.decode("request_id_synthetic"),
                tenant: try row.decodeIfPresent("tenant"), decidedAt: try row.decode("decided_at"),
                decision: try .init(column: row, "decision"),
                reasons: try JSONValue.parse(try row.decodeIfPresent("reasons"))?.elements ?? [],
                prompt: try row.decodeIfPresent("prompt"), negativePrompt: try row.decodeIfPresent("negative_prompt"),
                mitigations: try JSONValue.parse(try row.decodeIfPresent("mitigations")),
                scores: try JSONValue.parse(try row.decodeIfPresent("scores"))?.elements ?? [],
                generatedImageSHA256: try row.decodeIfPresent("image_sha256"), modelSHA256: try row.decodeIfPresent("model_sha256"),
                overlaySHA256: try row.decodeIfPresent("overlay_sha256"), requestSHA256: try row.decodeIfPresent("request_sha256"),
                workerID: try row.decode("worker_id"), topic: try row.decode("topic"), partition: try row.decode("partition"),
                offset: try row.decode("offset"), publishedTopic: try row.decode("published_topic"),
                attributes: try JSONValue.parse(try row.decodeIfPresent("attributes")),
                tries: try JSONValue.parse(try row.decodeIfPresent("tries"))?.elements ?? [],
                publishedResult: try JSONValue.parse(try row.decodeIfPresent("published_result")),
                publishedImageBase64: try row.decodeIfPresent("published_image_base64"),
                publishedImageRef: try row.decodeIfPresent("published_image_ref"),
                publishedImageSHA256: try row.decodeIfPresent("published_image_sha256"),
                rawRequest: try row.decodeIfPresent("raw_request", as: SQLBytes.self)?.bytes)
        }
    }

    /// A withheld image (`withheld_images`: blocked images, originals of censored ones), read as
    /// a reviewer, the only role that may; nil when it is not there.
    public func withheldImage(sha256: String) async throws -> [UInt8]? {
        try await read(as: .reviewer) { session in
            try session.query("SELECT bytes FROM withheld_images WHERE sha256 = \(sha256)").rows.first?.decode("bytes", as: SQLBytes.self).bytes
        }
    }

    /// An image of the image store (`images`), nil when it is not there.
    public func storedImage(sha256: String, as role: ConsoleRole) async throws -> [UInt8]? {
        try await read(as: role) { session in
            try session.query("SELECT bytes FROM images WHERE sha256 = \(sha256)").rows.first?.decode("bytes", as: SQLBytes.self).bytes
        }
    }

    // MARK: Reviews

    /// Records a verdict as the reviewer role; the database refuses it for other decisions than
    /// censor and block, and for any role but reviewer.
    public func recordReview(requestID: String, verdict: Verdict, note: String, reviewer: String, as role: ConsoleRole) async throws {
        guard note.utf8.count <= 4000, !note.utf8.contains(0) else { throw ConsoleError.invalidInput("the note must be at most 4000 bytes, without NUL") }
        // Not retried on connection loss: a lost answer may have recorded the verdict already.
        try await connection.transaction { session in
            try session.query("SET LOCAL ROLE \(identifier: role.databaseRole)")
            try session.query("""
                INSERT INTO reviews (request_id, verdict, note, reviewer) VALUES (\(requestID), \(verdict.rawValue), \(note), \(reviewer))
                """)
        }
    }

    /// The verdicts on one decision, newest first; or the latest `limit` of all when `requestID` is nil.
    public func reviews(requestID: String?, limit: Int = 100, as role: ConsoleRole) async throws -> [ReviewEntry] {
        let query: SQLQuery = """
            SELECT id, request_id, tenant, decision, verdict, note, reviewer, reviewed_at FROM audit_reviews
            WHERE (\(requestID)::text IS NULL OR request_id = \(requestID))
            ORDER BY reviewed_at DESC, id DESC LIMIT \(limit)
            """
        return try await read(as: role) { session in
            try session.query(query).map { row in
                ReviewEntry(
                    id: try row.decode("id"), requestID: try row.decode("request_id"), tenant: try row.decodeIfPresent("tenant"),
                    decision: try .init(column: row, "decision"),
                    verdict: Verdict(rawValue: try row.decode("verdict")) ?? .uphold, note: try row.decode("note"),
                    reviewer: try row.decode("reviewer"), reviewedAt: try row.decode("reviewed_at"))
            }
        }
    }

    /// Overturn rate per scorer and category, highest first.
    public func overturnRates(as role: ConsoleRole) async throws -> [OverturnRate] {
        try await read(as: role) { session in
            try Self.overturnRates(session)
        }
    }

    static func overturnRates(_ session: SQLSession) throws -> [OverturnRate] {
        try session.query("""
            SELECT scorer, category, reviewed, overturned, overturn_rate FROM audit_overturn_rates
            ORDER BY overturn_rate DESC, reviewed DESC, scorer, category
            """).map { row in
            OverturnRate(
                scorer: try row.decode("scorer"), category: try row.decode("category"), reviewed: try row.decode("reviewed"),
                overturned: try row.decode("overturned"), rate: try row.decode("overturn_rate"))
        }
    }

    // MARK: Charts

    /// The charts' data: decisions over time within `range` (default: the 30 days before the
    /// newest decision), and the views, which cover every decision.
    public func chartData(as role: ConsoleRole, range: ChartRange = ChartRange()) async throws -> ChartData {
        try await read(as: role) { session in
            // Open ends: `from` defaults to 30 days before the newest decision (before `to` when
            // given), `to` to no bound.
            let bounds = try session.query("""
                WITH bounds AS (
                    SELECT coalesce(\(range.from)::timestamptz,
                        (SELECT max(decided_at) - interval '30 days' FROM audit_decisions
                         WHERE \(range.to)::timestamptz IS NULL OR decided_at < \(range.to)::timestamptz)) AS lower)
                SELECT lower, extract(epoch FROM max(decided_at) - min(decided_at))::double precision AS seconds
                FROM bounds LEFT JOIN audit_decisions
                    ON decided_at >= lower AND (\(range.to)::timestamptz IS NULL OR decided_at < \(range.to)::timestamptz)
                GROUP BY lower
                """).single("time span")
            let lower = try bounds.decodeIfPresent("lower", as: SQLTimestamp.self)
            let span = try bounds.decodeIfPresent("seconds", as: Double.self) ?? 0
            let unit = span <= 2 * 3600 ? "minute" : span <= 3 * 86_400 ? "hour" : "day"
            let overTime = try session.query("""
                SELECT coalesce(tenant, '(unknown)') AS tenant, date_trunc(\(unit), decided_at) AS bucket, count(*) AS n
                FROM audit_decisions
                WHERE decided_at >= \(lower)::timestamptz AND (\(range.to)::timestamptz IS NULL OR decided_at < \(range.to)::timestamptz)
                GROUP BY 1, 2 ORDER BY 2, 1
                """).map { row in
                (tenant: try row.decode("tenant", as: String.self), bucket: try row.decode("bucket", as: SQLTimestamp.self),
                 count: try row.decode("n", as: Int.self))
            }
            let overModeration = try session.query("""
                SELECT tenant, safegen, benign_people_requests, over_moderated, over_moderation_rate
                FROM audit_over_moderation ORDER BY tenant, safegen
                """).map { row in
                (tenant: try row.decode("tenant", as: String.self), safegen: try row.decode("safegen", as: Bool.self),
                 requests: try row.decode("benign_people_requests", as: Int.self),
                 overModerated: try row.decode("over_moderated", as: Int.self), rate: try row.decode("over_moderation_rate", as: Double.self))
            }
            let amplification = try session.query("""
                SELECT attribute, value, harm_type, sum(requests)::bigint AS requests, sum(amplified)::bigint AS amplified,
                       (sum(amplified)::double precision / nullif(sum(requests), 0)) AS rate
                FROM (SELECT attribute, value, harm_type, requests, amplified FROM audit_amplification_by_attribute
                      UNION ALL
                      SELECT 'prompt:' || prompt_group, value, harm_type, requests, amplified FROM audit_amplification_by_prompt_group) g
                GROUP BY attribute, value, harm_type ORDER BY attribute, harm_type, value
                """).map { row in
                (attribute: try row.decode("attribute", as: String.self), value: try row.decode("value", as: String.self),
                 harmType: try row.decode("harm_type", as: String.self), requests: try row.decode("requests", as: Int.self),
                 amplified: try row.decode("amplified", as: Int.self), rate: try row.decodeIfPresent("rate", as: Double.self) ?? 0)
            }
            let escalation = try session.query("""
                SELECT tenant, requests, first_try_blocked, rescued, blocked FROM audit_escalation_by_tenant ORDER BY tenant
                """).map { row in
                let requests: Int = try row.decode("requests")
                let firstBlocked: Int = try row.decode("first_try_blocked")
                return (tenant: try row.decode("tenant", as: String.self), requests: requests, firstTryPassed: requests - firstBlocked,
                        rescued: try row.decode("rescued", as: Int.self), blocked: try row.decode("blocked", as: Int.self))
            }
            return ChartData(
                range: range, overTime: overTime, bucketUnit: unit, overModeration: overModeration, amplification: amplification,
                escalation: escalation, overturnRates: try Self.overturnRates(session))
        }
    }
}

/// Adding console users (`chaperone audit user add`): run as a role that may write
/// `console_users`, such as the schema owner that ran the migrations.
public enum ConsoleUsers {
    /// Adds `name` with `role`, or replaces its role and password when `replace` is true.
    /// Throws when the user exists and `replace` is false.
    public static func add(name: String, role: ConsoleRole, password: String, replace: Bool, on connection: Connection,
                           iterations: Int = PasswordHash.defaultIterations) async throws {
        guard name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"#, options: .regularExpression) != nil else {
            throw ConsoleError.invalidInput("a user name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
        }
        guard password.count >= 8 else { throw ConsoleError.invalidInput("the password must have at least 8 characters") }
        guard !password.utf8.contains(0) else { throw ConsoleError.invalidInput("the password must not contain NUL") }
        let hash = try PasswordHash.make(password: password, iterations: iterations).description
        let inserted: Int
        if replace {
            inserted = try await connection.query("""
                INSERT INTO console_users (name, role, password_hash) VALUES (\(name), \(role.rawValue), \(hash))
                ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, updated_at = now()
                """).affectedRows
            // A changed password or role ends the user's sessions.
            try await connection.query("DELETE FROM console_sessions WHERE user_name = \(name)")
        } else {
            inserted = try await connection.query("""
                INSERT INTO console_users (name, role, password_hash) VALUES (\(name), \(role.rawValue), \(hash))
                ON CONFLICT (name) DO NOTHING
                """).affectedRows
        }
        guard inserted == 1 else { throw ConsoleError.invalidInput("the console user '\(name)' exists; add --replace to change its role and password") }
    }
}
