import ArgumentParser
import Configuration
import AuditStore
import Console
import Foundation
import Logging
import Worker

/// `chaperone audit serve`: the audit console, a web page for analysts and reviewers.
struct AuditServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the audit console (decisions, images, charts, reviews) for analysts and reviewers.",
        discussion: """
            Connect as a database login that is a member of chaperone_console (migration 005); each page runs as \
            chaperone_analyst or chaperone_reviewer for the user's role. Users are added with `chaperone audit user add`.
            """)

    @OptionGroup var database: AuditDatabaseOptions

    @Option(help: "Address to bind (console.host, CHAPERONE_CONSOLE_HOST). Default 127.0.0.1: this machine only.")
    var host: String?

    @Option(help: "Port (console.port, CHAPERONE_CONSOLE_PORT). Default 8470; 0 picks a free one.")
    var port: Int?

    @Option(help: "PEM certificate chain for HTTPS (console.tls_certificate, CHAPERONE_CONSOLE_TLS_CERTIFICATE); needs --tls-key.")
    var tlsCertificate: String?

    @Option(help: "PEM private key for HTTPS (console.tls_key, CHAPERONE_CONSOLE_TLS_KEY).")
    var tlsKey: String?

    @Option(help: "Folder of a directory image store, for file: image references. Default: images.store when it is a folder.")
    var imageDirectory: String?

    @Option(help: "Hours a login lasts, 1-168 (console.session_hours, CHAPERONE_CONSOLE_SESSION_HOURS). Default 8.")
    var sessionHours: Int?

    func run() async throws {
        // The flags as configuration keys: flag, then CHAPERONE_* environment, then --config, then defaults.
        var flags: [String: ConfigContent] = [:]
        if let host { flags["console.host"] = .string(host) }
        if let port { flags["console.port"] = .int(port) }
        if let tlsCertificate { flags["console.tls_certificate"] = .string(tlsCertificate) }
        if let tlsKey { flags["console.tls_key"] = .string(tlsKey) }
        if let sessionHours { flags["console.session_hours"] = .int(sessionHours) }
        let settings = try await database.configuration(flags: flags)
        var configuration = ConsoleConfiguration()
        configuration.host = settings.console.host
        configuration.port = settings.console.port
        configuration.tlsCertificateFile = settings.console.tlsCertificate
        configuration.tlsKeyFile = settings.console.tlsKey
        configuration.imageDirectory = imageDirectory ?? settings.imageStore.flatMap { $0 == "postgresql" ? nil : $0 }
        let sessionHours = settings.console.sessionHours
        let store = try await ConsoleStore.connect(url: AuditDatabaseOptions.url(of: settings), sessionLifetime: .seconds(sessionHours * 3600))
        let server = ConsoleServer(store: store, configuration: configuration)
        let scheme = configuration.usesTLS ? "https" : "http"
        let host = configuration.host
        try await server.run { port in
            FileHandle.standardOutput.write(Data("audit console on \(scheme)://\(host):\(port)/\n".utf8))
        }
    }
}

/// `chaperone audit user …`: console logins.
struct AuditUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage audit console users.", subcommands: [AuditUserAdd.self])
}

/// `chaperone audit user add NAME --role analyst|reviewer`, the password on standard input.
struct AuditUserAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add an audit console user; the password is read from standard input (its first line).",
        discussion: "Run as a database role that may write console_users, such as the owner that ran the migrations.")

    @OptionGroup var database: AuditDatabaseOptions

    @Argument(help: "User name (letters, digits, '.', '_', '@', '-').")
    var name: String

    @Option(help: "analyst (read) or reviewer (read and record verdicts).")
    var role: String

    @Flag(help: "Change the role and password of an existing user (ends its sessions).")
    var replace = false

    func validate() throws {
        guard ConsoleRole(rawValue: role) != nil else { throw ValidationError("--role must be analyst or reviewer") }
    }

    func run() async throws {
        guard let line = readLine(strippingNewline: true) else {
            throw AuditCommandError(description: "no password on standard input (e.g. `printf '%s\\n' \"$PASSWORD\" | chaperone audit user add …`)")
        }
        let repository = try await database.repository()
        do {
            try await AuditDatabaseOptions.explained {
                try await ConsoleUsers.add(name: name, role: ConsoleRole(rawValue: role)!, password: line, replace: replace, on: repository.connection)
            }
        } catch let error as ConsoleError {
            throw AuditCommandError(description: error.description)
        }
        print("console user \(name) (\(role)) \(replace ? "saved" : "added")")
    }
}
