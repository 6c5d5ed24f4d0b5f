import Console
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// HTTPS: the console serves TLS from a PEM certificate and key (a self-signed test pair,
/// generated once for these tests and valid for no real host), and refuses half a configuration.
@Suite struct ConsoleTLSTests {
    static let fixtures = ConsoleFixture.root.appendingPathComponent("Tests/ConsoleTests/Fixtures")

    @Test func servesHTTPSWithACertificateAndKey() async throws {
        try await ConsoleFixture.with { fixture in
            var configuration = ConsoleConfiguration()
            configuration.tlsCertificateFile = Self.fixtures.appendingPathComponent("console-test-cert.pem").path
            configuration.tlsKeyFile = Self.fixtures.appendingPathComponent("console-test-key.pem").path
            let server = ConsoleServer(store: fixture.store, configuration: configuration)
            try await server.application().test(.ahc(.https)) { client in
                let health = try await client.execute(uri: "/health", method: .get)
                #expect(health.status == .ok)
                // Over TLS the cookies are Secure.
                let login = try await client.execute(uri: "/login", method: .get)
                let cookie = login.headers[values: .setCookie].first { $0.hasPrefix("chaperone_console_login=") } ?? ""
                #expect(cookie.contains("Secure"), "\(cookie)")
            }
        }
    }

    @Test func refusesHalfATLSConfigurationAndUnreadableFiles() async throws {
        try await ConsoleFixture.with { fixture in
            var onlyCertificate = ConsoleConfiguration()
            onlyCertificate.tlsCertificateFile = Self.fixtures.appendingPathComponent("console-test-cert.pem").path
            #expect(throws: ConsoleError.self) { _ = try ConsoleServer(store: fixture.store, configuration: onlyCertificate).application() }
            var missing = onlyCertificate
            missing.tlsKeyFile = Self.fixtures.appendingPathComponent("no-such-key.pem").path
            #expect(throws: ConsoleError.self) { _ = try ConsoleServer(store: fixture.store, configuration: missing).application() }
        }
    }

    @Test func bindsLoopbackByDefault() {
        let configuration = ConsoleConfiguration()
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8470)
    }
}
