import Contracts
/// Poison quarantine: a durable count, per input position, of processing starts that never
/// ended in an audit row (table `delivery_attempts`, migration 004).
extension AuditRepository {
    /// Counts one more start of processing the message at `source` by `workerID` and returns
    /// the count including this one. Safe to call concurrently (one upsert).
    public func recordProcessingStart(of source: SourcePosition, workerID: String) async throws -> Int {
        try validateText(source.topic, field: "source_topic")
        try validateText(workerID, field: "worker_id")
        let upsert: SQLQuery = """
            INSERT INTO delivery_attempts (source_topic, source_partition, source_offset, attempts, last_worker_id)
            VALUES (\(source.topic), \(source.partition), \(source.offset), 1, \(workerID))
            ON CONFLICT (source_topic, source_partition, source_offset) DO UPDATE
               SET attempts = delivery_attempts.attempts + 1, last_started_at = now(), last_worker_id = EXCLUDED.last_worker_id
            RETURNING attempts
            """
        return try await withContext("record processing start") {
            try await resettingReadOnlySession {
                // Not repeated on connection loss: a lost answer may have counted already, and
                // over-counting a start would quarantine a healthy message early.
                try await connection.query(upsert).single("attempt count").decode("attempts")
            }
        }
    }

    /// Takes back one start at `source` (a hand-back: the message was not finished, but no
    /// crash happened either). Never goes below zero.
    public func retractProcessingStart(of source: SourcePosition) async throws {
        let update: SQLQuery = """
            UPDATE delivery_attempts SET attempts = greatest(attempts - 1, 0)
            WHERE source_topic = \(source.topic) AND source_partition = \(source.partition) AND source_offset = \(source.offset)
            """
        try await withContext("retract processing start") {
            try await resettingReadOnlySession { _ = try await connection.query(update, retryOnConnectionLoss: false) }
        }
    }

    /// Forgets the starts at `source` once its audit row is written (a redelivery then finds
    /// the row and never generates, so the count has no further use).
    public func clearProcessingStarts(of source: SourcePosition) async throws {
        let delete: SQLQuery = """
            DELETE FROM delivery_attempts
            WHERE source_topic = \(source.topic) AND source_partition = \(source.partition) AND source_offset = \(source.offset)
            """
        try await withContext("clear processing starts") {
            try await resettingReadOnlySession { _ = try await connection.query(delete, retryOnConnectionLoss: true) }
        }
    }

    /// The recorded starts at `source` (0 when none).
    public func processingStarts(of source: SourcePosition) async throws -> Int {
        let select: SQLQuery = """
            SELECT coalesce(max(attempts), 0) AS attempts FROM delivery_attempts
            WHERE source_topic = \(source.topic) AND source_partition = \(source.partition) AND source_offset = \(source.offset)
            """
        return try await withContext("read processing starts") {
            try await connection.query(select, retryOnConnectionLoss: true).single("attempt count").decode("attempts")
        }
    }
}

/// The content-addressed image store in PostgreSQL (table `images`, migration 004): the claim
/// check for results whose image is not carried inline.
extension AuditRepository {
    /// Stores `bytes` under their SHA-256 `sha256` (lowercase hex); storing the same image
    /// again is a no-op. The table checks that the hash matches the bytes.
    public func storeImage(sha256: String, bytes: [UInt8], mediaType: String = "image/png") async throws {
        try await insertImage(into: "images", sha256: sha256, bytes: bytes, mediaType: mediaType, operation: "store image")
    }

    /// The stored image with SHA-256 `sha256`, nil when there is none.
    public func image(sha256: String) async throws -> [UInt8]? {
        try await readImage(from: "images", sha256: sha256, operation: "read image")
    }

    /// Inserts into one of the content-addressed image tables (`images`, `withheld_images`);
    /// the same image again is a no-op.
    func insertImage(into table: String, sha256: String, bytes: [UInt8], mediaType: String, operation: String) async throws {
        let insert: SQLQuery = """
            INSERT INTO \(identifier: table) (sha256, media_type, bytes) VALUES (\(sha256), \(mediaType), \(SQLBytes(bytes)))
            ON CONFLICT (sha256) DO NOTHING
            """
        try await withContext(operation) {
            try await resettingReadOnlySession { _ = try await connection.query(insert, retryOnConnectionLoss: true) }
        }
    }

    /// Reads an image by SHA-256 from one of the content-addressed image tables.
    func readImage(from table: String, sha256: String, operation: String) async throws -> [UInt8]? {
        try validateText(sha256, field: "sha256")
        let select: SQLQuery = "SELECT bytes FROM \(identifier: table) WHERE sha256 = \(sha256)"
        return try await withContext(operation) {
            try await connection.query(select, retryOnConnectionLoss: true).rows.first
                .map { try $0.decode("bytes", as: SQLBytes.self).bytes }
        }
    }
}

/// Images a decision withheld (table `withheld_images`, migration 006): the generated image of a
/// blocked decision or the original of a censored one, kept for reviewers only.
extension AuditRepository {
    /// Keeps `bytes` (whose SHA-256 is `sha256`, lowercase hex); keeping the same image again is
    /// a no-op. The table checks that the hash matches the bytes.
    public func keepWithheldImage(sha256: String, bytes: [UInt8]) async throws {
        try await insertImage(into: "withheld_images", sha256: sha256, bytes: bytes, mediaType: "image/png", operation: "keep withheld image")
    }

    /// The withheld image with SHA-256 `sha256`, nil when there is none.
    public func withheldImage(sha256: String) async throws -> [UInt8]? {
        try await readImage(from: "withheld_images", sha256: sha256, operation: "read withheld image")
    }
}
