@testable import Console
import Foundation
import Testing

/// PBKDF2-HMAC-SHA256 against the test vectors of RFC 7914 (section 11), and the stored form.
@Suite struct PasswordHashTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func rfc7914Vectors() throws {
        let one = try PasswordHash.derive(password: Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1, length: 64)
        #expect(Self.hex(one) == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
        let many = try PasswordHash.derive(password: Array("Password".utf8), salt: Array("NaCl".utf8), iterations: 80_000, length: 64)
        #expect(Self.hex(many) == "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d")
    }

    @Test func storedFormRoundTripsAndVerifies() throws {
        let hash = try PasswordHash.make(password: "correct horse", iterations: 1000)
        let text = hash.description
        #expect(text.hasPrefix("pbkdf2-sha256$1000$"))
        let parsed = try PasswordHash(parsing: text)
        #expect(parsed == hash)
        #expect(parsed.verify("correct horse"))
        #expect(!parsed.verify("correct horse "))
        #expect(!parsed.verify(""))
        // A new salt every time: the same password hashes differently.
        #expect(try PasswordHash.make(password: "correct horse", iterations: 1000) != hash)
        #expect(PasswordHash.defaultIterations == 600_000)
    }

    @Test func malformedHashesAreRefused() {
        for text in ["", "md5$1$AA==$AA==", "pbkdf2-sha256$0$AA==$AA==", "pbkdf2-sha256$x$AA==$AA==", "pbkdf2-sha256$10$$AA==", "pbkdf2-sha256$10$AA=="] {
            #expect(throws: ConsoleError.self, "\(text)") { try PasswordHash(parsing: text) }
        }
    }
}
