import ArgumentParser
import AuditStore
import Console
import Foundation
import Logging

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

    @Option(help: "Address to bind (CHAPERONE_CONSOLE_HOST). Default 127.0.0.1: this machine only.")
    var host: String?

    @Option(help: "Port (CHAPERONE_CONSOLE_PORT). Default 8470; 0 picks a free one.")
    var port: Int?

    @Option(help: "PEM certificate chain for HTTPS (CHAPERONE_CONSOLE_TLS_CERTIFICATE); needs --tls-key.")
    var tlsCertificate: String?

    @Option(help: "PEM private key for HTTPS (CHAPERONE_CONSOLE_TLS_KEY).")
    var tlsKey: String?

    @Option(help: "Folder of a directory image store (the workers' images.store path), for file: image references.")
    var imageDirectory: String?

    @Option(help: "Hours a login lasts (1-168).")
    var sessionHours: Int = 8

    func validate() throws {
        guard (1...168).contains(sessionHours) else { throw ValidationError("--session-hours must be between 1 and 168") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = ConsoleConfiguration()
        configuration.host = host ?? environment["CHAPERONE_CONSOLE_HOST"] ?? configuration.host
        if let port = port ?? environment["CHAPERONE_CONSOLE_PORT"].flatMap(Int.init) { configuration.port = port }
        configuration.tlsCertificateFile = tlsCertificate ?? environment["CHAPERONE_CONSOLE_TLS_CERTIFICATE"]
        configuration.tlsKeyFile = tlsKey ?? environment["CHAPERONE_CONSOLE_TLS_KEY"]
        configuration.imageDirectory = imageDirectory
        let store = try await ConsoleStore.connect(url: try await database.resolvedURL(), sessionLifetime: .seconds(sessionHours * 3600))
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
