import Contracts
import Logging

/// Reads and writes the audit log: the `decisions` table and its views.
///
/// Every call is safe to repeat, so each one reconnects and retries once when the connection
/// broke; errors that remain are thrown (see `AuditStoreError.isRetriable`).
public struct AuditRepository: Sendable {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Connects to `url` (see `Connection.connect(url:overrides:settings:logger:)`).
    public static func connect(
        url: String, overrides: [String: String] = [:], settings: ConnectionSettings = ConnectionSettings(),
        logger: Logger = Logger(label: "chaperone.audit")
    ) async throws -> AuditRepository {
        AuditRepository(connection: try await Connection.connect(url: url, overrides: overrides, settings: settings, logger: logger))
    }

    /// Stores `record` unless a row with its request_id exists (INSERT … ON CONFLICT DO NOTHING).
    ///
    /// Returns `.inserted` with the record as given, or `.alreadyPresent` with the stored row,
    /// whose `publishedPayload` is what must be republished. Throws `invalidValue` for text
    /// holding a NUL byte, and `queryFailed` (SQLSTATE 23514) for values the table's checks refuse.
    public func insertDecision(_ record: DecisionRecord) async throws -> InsertOutcome {
        try record.validate()
        let r = record
        let insert: SQLQuery = """
            INSERT INTO decisions (
                request_id, request_id_synthetic, tenant, decided_at, decision, reasons, prompt, negative_prompt,
                mitigations, scores, image_sha256, model_sha256, overlay_sha256, worker_id,
                source_topic, source_partition, source_offset, published_topic, published_payload, raw_request,
                attributes, tries, request_sha256
            ) VALUES (
                \(r.requestID), \(r.requestIDIsSynthetic), \(r.tenant), \(r.decidedAt), \(r.decision.rawValue),
                \(r.reasonsJSON)::jsonb, \(r.prompt), \(r.negativePrompt), \(r.mitigationsJSON)::jsonb,
                \(r.scoresJSON)::jsonb, \(r.imageSHA256), \(r.modelSHA256), \(r.overlaySHA256), \(r.workerID),
                \(r.source.topic), \(r.source.partition), \(r.source.offset), \(r.publishedTopic),
                \(SQLBytes(r.publishedPayload)), \(r.rawRequest.map(SQLBytes.init)), \(r.attributesJSON)::jsonb,
                \(r.triesJSON)::jsonb, \(r.requestSHA256)
            )
            ON CONFLICT (request_id) DO NOTHING
            RETURNING request_id
            """
        let select = Self.selectRecord(requestID: r.requestID)
        return try await withContext("insert decision") {
            do {
                return try await connection.withSession(retryOnConnectionLoss: true) { session in
                    if try session.query(insert).affectedRows == 1 { return .inserted(r) }
                    // The conflicting row is committed (ON CONFLICT waits for it), so it is visible now.
                    let row = try session.query(select).single("stored decision for a duplicate request_id")
                    return .alreadyPresent(try Self.record(from: row))
                }
            } catch let error as AuditStoreError where error.sqlState == Self.readOnlyState {
                // A session that began while the database was read-only stays read-only: the
                // retry gets a new one, which is writable once the database is again.
                await connection.reset()
                throw error
            }
        }
    }

    /// SQLSTATE `read_only_sql_transaction`.
    static let readOnlyState = "25006"

    /// Runs a write; when it meets a read-only session, drops the session before rethrowing,
    /// so the retry gets a new one (writable once the database is again).
    func resettingReadOnlySession<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let error as AuditStoreError where error.sqlState == Self.readOnlyState {
            await connection.reset()
            throw error
        }
    }

    /// Checks that the database answers and takes writes, cheaply (one `SELECT` of a session
    /// setting, no table touched): for readiness probes while no request is written.
    ///
    /// Throws `connectionFailed`/`connectionLost` when the server cannot be reached, and
    /// `queryFailed` with SQLSTATE 25006 when the session is read-only (the database's
    /// `default_transaction_read_only`, a standby); the session is then dropped so the next
    /// probe sees the database's current setting.
    public func probe() async throws {
        let readOnly: String? = try await withContext("probe") {
            try await connection.query("SELECT current_setting('transaction_read_only') AS read_only", retryOnConnectionLoss: true)
                .single("probe").text("read_only")
        }
        if readOnly == "on" {
            await connection.reset()
            throw AuditStoreError(.queryFailed, "probe: the database is read-only", sqlState: Self.readOnlyState)
        }
    }

    /// The stored record for `requestID`, payload included; nil when there is none.
    public func decision(requestID: String) async throws -> DecisionRecord? {
        try validateText(requestID, field: "request_id")
        let query = Self.selectRecord(requestID: requestID)
        return try await withContext("read decision") {
            try await connection.query(query, retryOnConnectionLoss: true).rows.first.map(Self.record(from:))
        }
    }

    /// The latest decisions, newest first, optionally of one tenant and/or one decision.
    /// `limit` must be 1…10,000.
    public func recentDecisions(
        tenant: String? = nil, decision: DecisionRecord.Decision? = nil, limit: Int = 50
    ) async throws -> [AuditEntry] {
        guard (1...10_000).contains(limit) else {
            throw AuditStoreError(.invalidConfiguration, "limit must be between 1 and 10000, got \(limit)")
        }
        if let tenant { try validateText(tenant, field: "tenant") }
        let query: SQLQuery = """
            SELECT * FROM audit_decisions
            WHERE (\(tenant)::text IS NULL OR tenant = \(tenant))
              AND (\(decision?.rawValue)::text IS NULL OR decision = \(decision?.rawValue))
            ORDER BY decided_at DESC, request_id
            LIMIT \(limit)
            """
        return try await withContext("list recent decisions") {
            try await connection.query(query, retryOnConnectionLoss: true).map { row in
                AuditEntry(
                    requestID: try row.decode("request_id"),
                    requestIDIsSynthetic: try row.decode("request_id_synthetic"),
                    tenant: try row.decodeIfPresent("tenant"),
                    decidedAt: try row.decode("decided_at"),
                    decision: try Self.decision(row),
                    reasonsJSON: try row.decode("reasons"),
                    prompt: try row.decodeIfPresent("prompt"),
                    negativePrompt: try row.decodeIfPresent("negative_prompt"),
                    mitigationsJSON: try row.decodeIfPresent("mitigations"),
                    scoresJSON: try row.decodeIfPresent("scores"),
                    imageSHA256: try row.decodeIfPresent("image_sha256"),
                    modelSHA256: try row.decodeIfPresent("model_sha256"),
                    overlaySHA256: try row.decodeIfPresent("overlay_sha256"),
                    workerID: try row.decode("worker_id"),
                    topic: try row.decode("topic"),
                    partition: try row.decode("partition"),
                    offset: try row.decode("offset"),
                    publishedTopic: try row.decode("published_topic"))
            }
        }
    }

    /// The stored request ids that start with `prefix` (at most `limit`, sorted), e.g. the
    /// earlier replays `<id>.replay-<n>` of a dead-lettered request.
    public func requestIDs(startingWith prefix: String, limit: Int = 1_000) async throws -> [String] {
        try validateText(prefix, field: "prefix")
        guard !prefix.isEmpty, (1...10_000).contains(limit) else {
            throw AuditStoreError(.invalidConfiguration, "the prefix must not be empty and limit must be 1...10000")
        }
        let query: SQLQuery = """
            SELECT request_id FROM decisions WHERE starts_with(request_id, \(prefix)) ORDER BY request_id LIMIT \(limit)
            """
        return try await withContext("list request ids by prefix") {
            try await connection.query(query, retryOnConnectionLoss: true).map { try $0.decode("request_id") }
        }
    }

    /// Decision counts by tenant and decision, ordered by tenant then decision.
    public func summary() async throws -> [DecisionCount] {
        try await withContext("summarise decisions") {
            try await connection.query(
                "SELECT tenant, decision, decisions FROM audit_summary ORDER BY tenant NULLS LAST, decision",
                retryOnConnectionLoss: true
            ).map { row in
                DecisionCount(tenant: try row.decodeIfPresent("tenant"), decision: try Self.decision(row), count: try row.decode("decisions"))
            }
        }
    }

    /// The number of stored decisions.
    public func count() async throws -> Int {
        try await withContext("count decisions") {
            try await connection.query("SELECT count(*) AS n FROM decisions", retryOnConnectionLoss: true)
                .single("count").decode("n")
        }
    }

    static func selectRecord(requestID: String) -> SQLQuery {
        """
        SELECT request_id, request_id_synthetic, tenant, decided_at, decision, reasons, prompt, negative_prompt,
               mitigations, scores, image_sha256, model_sha256, overlay_sha256, worker_id,
               source_topic, source_partition, source_offset, published_topic, published_payload, raw_request,
               attributes, tries, request_sha256
        FROM decisions WHERE request_id = \(requestID)
        """
    }

    static func record(from row: SQLRow) throws -> DecisionRecord {
        DecisionRecord(
            requestID: try row.decode("request_id"),
            requestIDIsSynthetic: try row.decode("request_id_synthetic"),
            tenant: try row.decodeIfPresent("tenant"),
            decidedAt: try row.decode("decided_at"),
            decision: try decision(row),
            reasonsJSON: try row.decode("reasons"),
            prompt: try row.decodeIfPresent("prompt"),
            negativePrompt: try row.decodeIfPresent("negative_prompt"),
            mitigationsJSON: try row.decodeIfPresent("mitigations"),
            scoresJSON: try row.decodeIfPresent("scores"),
            imageSHA256: try row.decodeIfPresent("image_sha256"),
            modelSHA256: try row.decodeIfPresent("model_sha256"),
            overlaySHA256: try row.decodeIfPresent("overlay_sha256"),
            workerID: try row.decode("worker_id"),
            source: .init(
                topic: try row.decode("source_topic"), partition: try row.decode("source_partition"),
                offset: try row.decode("source_offset")),
            publishedTopic: try row.decode("published_topic"),
            publishedPayload: try row.decode("published_payload", as: SQLBytes.self).bytes,
            rawRequest: try row.decodeIfPresent("raw_request", as: SQLBytes.self)?.bytes,
            attributesJSON: try row.decodeIfPresent("attributes"),
            triesJSON: try row.decodeIfPresent("tries"),
            requestSHA256: try row.decodeIfPresent("request_sha256"))
    }

    static func decision(_ row: SQLRow) throws -> DecisionRecord.Decision {
        let text: String = try row.decode("decision")
        guard let decision = DecisionRecord.Decision(rawValue: text) else {
            throw AuditStoreError(.decodingFailed, "column 'decision' holds an unknown decision")
        }
        return decision
    }

    func validateText(_ value: String, field: String) throws {
        if let nul = value.utf8.firstIndex(of: 0) {
            let offset = value.utf8.distance(from: value.utf8.startIndex, to: nul)
            throw AuditStoreError(.invalidValue, "'\(field)' contains a NUL byte at UTF-8 byte offset \(offset)")
        }
    }

    /// Prefixes the operation to errors from `body`, so messages say what was being done.
    func withContext<Value>(_ operation: String, _ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch var error as AuditStoreError {
            error.message = "\(operation): \(error.message)"
            throw error
        }
    }
}
