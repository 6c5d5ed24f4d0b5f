#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// TCP sockets on 127.0.0.1 for tests that need a port: a free one, or one that listens and
/// never answers (a silent server).
public enum LoopbackSocket {
    /// Why a socket could not be set up, with `errno`.
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A socket bound to a port the kernel picks, listening with `backlog` when given.
    /// The caller closes `descriptor`.
    public static func bound(listeningWith backlog: Int32? = nil) throws -> (descriptor: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SetupError(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        let listening = backlog.map { listen(fd, $0) == 0 } ?? true
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, listening, named == 0 else {
            let code = errno
            close(fd)
            throw SetupError(description: "binding a loopback port failed: errno \(code)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A loopback port that was free a moment ago (bound to port 0, read, released).
    public static func freePort() throws -> Int {
        let socket = try bound()
        close(socket.descriptor)
        return socket.port
    }
}
