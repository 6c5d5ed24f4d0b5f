import Crypto
import _CryptoExtras
import Foundation

/// Password hashes of console users: PBKDF2-HMAC-SHA256 with a random 16-byte salt, stored as
/// `pbkdf2-sha256$<iterations>$<salt base64>$<key base64>` (the format `console_users` checks).
///
/// The iteration count is kept in each hash, so it can be raised later without invalidating
/// stored hashes; verification compares in constant time.
public struct PasswordHash: Sendable, Equatable, CustomStringConvertible {
    /// OWASP's recommendation for PBKDF2-HMAC-SHA256.
    public static let defaultIterations = 600_000
    /// Bytes of derived key stored.
    static let keyLength = 32

    public let iterations: Int
    public let salt: [UInt8]
    public let key: [UInt8]

    /// The stored form.
    public var description: String {
        "pbkdf2-sha256$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(key).base64EncodedString())"
    }

    /// Hashes `password` with a new random salt.
    public static func make(password: String, iterations: Int = defaultIterations) throws -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return try make(password: password, salt: salt, iterations: iterations)
    }

    /// Hashes `password` with the given salt.
    public static func make(password: String, salt: [UInt8], iterations: Int) throws -> PasswordHash {
        PasswordHash(iterations: iterations, salt: salt, key: try derive(password: Array(password.utf8), salt: salt, iterations: iterations, length: keyLength))
    }

    /// PBKDF2-HMAC-SHA256 (RFC 8018) of `password` and `salt`: `length` bytes.
    public static func derive(password: [UInt8], salt: [UInt8], iterations: Int, length: Int) throws -> [UInt8] {
        guard iterations >= 1, length >= 1 else { throw ConsoleError.invalidInput("PBKDF2 needs at least one iteration and one byte") }
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: password, salt: salt, using: .sha256, outputByteCount: length, unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }

    /// Parses the stored form; throws naming what is wrong.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256" else {
            throw ConsoleError.invalidInput("a password hash must read pbkdf2-sha256$<iterations>$<salt>$<key>")
        }
        guard let iterations = Int(parts[1]), iterations >= 1,
            let salt = Data(base64Encoded: String(parts[2])), !salt.isEmpty,
            let key = Data(base64Encoded: String(parts[3])), !key.isEmpty
        else { throw ConsoleError.invalidInput("the password hash has a malformed iteration count, salt or key") }
        self.init(iterations: iterations, salt: Array(salt), key: Array(key))
    }

    public init(iterations: Int, salt: [UInt8], key: [UInt8]) {
        self.iterations = iterations
        self.salt = salt
        self.key = key
    }

    /// Whether `password` hashes to this hash (constant-time comparison of the keys).
    public func verify(_ password: String) -> Bool {
        guard let derived = try? Self.derive(password: Array(password.utf8), salt: salt, iterations: iterations, length: key.count) else {
            return false
        }
        return constantTimeEqual(derived, key)
    }
}

/// Compares two byte strings in time that depends on their length only.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for i in a.indices { difference |= a[i] ^ b[i] }
    return difference == 0
}

/// Random tokens for session cookies and CSRF fields: 32 bytes, base64url without padding.
enum Token {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `text` looks like a token this type makes (so it can be put in SQL or a cookie).
    static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 43 && text.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95
        }
    }
}
