import AuditStore
import Contracts
import Foundation

/// Where result images go when they are not carried inline (the claim-check pattern): the
/// result then names the image by ``ImageStoring/reference(sha256:)`` and its SHA-256, and a
/// consumer fetches the bytes from the store. Content-addressed, so storing is idempotent and
/// every worker writing the same image writes the same thing.
public protocol ImageStoring: Sendable {
    /// Stores `png` (whose SHA-256 is `sha256`) and returns its reference.
    func store(png: [UInt8], sha256: String) async throws -> String
}

/// When a result's image goes to the store instead of inline.
public enum ImageStorePolicy: Sendable, Equatable {
    /// Inline, unless the result would not fit the producer's message size.
    case whenTooLarge
    /// Always in the store.
    case always
}

/// Images as files `<sha256>.png` in a directory (a volume every consumer mounts); the
/// reference is `file:` followed by the file's absolute path.
public struct DirectoryImageStore: ImageStoring {
    public let directory: URL

    /// Creates the directory when missing; throws when it cannot be made.
    public init(directory: String) throws {
        let url = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.directory = url
    }

    public func store(png: [UInt8], sha256: String) async throws -> String {
        let file = directory.appendingPathComponent("\(sha256).png")
        if !FileManager.default.fileExists(atPath: file.path) {
            // Written under a temporary name and renamed, so a reader never sees half a file.
            let partial = directory.appendingPathComponent(".\(sha256).\(UUID().uuidString).partial")
            try Data(png).write(to: partial)
            do {
                try FileManager.default.moveItem(at: partial, to: file)
            } catch {
                try? FileManager.default.removeItem(at: partial)
                // Another worker stored the same image first: same content, nothing to do.
                guard FileManager.default.fileExists(atPath: file.path) else { throw error }
            }
        }
        return Self.reference(for: file)
    }

    static func reference(for file: URL) -> String { "file:\(file.path)" }
}

/// Images in the audit database's `images` table (migration 004); the reference is
/// `postgresql:images/<sha256>` (read with `chaperone audit image <sha256>`).
public struct PostgresImageStore: ImageStoring {
    public let repository: AuditRepository

    public init(repository: AuditRepository) {
        self.repository = repository
    }

    public func store(png: [UInt8], sha256: String) async throws -> String {
        try await repository.storeImage(sha256: sha256, bytes: png)
        return Self.reference(sha256: sha256)
    }

    public static func reference(sha256: String) -> String { "postgresql:images/\(sha256)" }
}
