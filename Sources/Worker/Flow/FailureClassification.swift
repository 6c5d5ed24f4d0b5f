import AuditStore
import Contracts
import Kafka

/// Whether a failed step of a request can succeed if tried again.
///
/// Transient failures (a database or broker that is unreachable, a serialization failure, a
/// timeout) are retried with backoff, the worker reporting itself not ready meanwhile. A
/// failure that is permanent for this message (the database refuses its data, the broker
/// refuses its size) would fail the same way forever: the message ends as `rejected` instead,
/// so one message can never hold up its partition. A failure not known to be permanent is
/// transient: a deployment fault (a missing table, a revoked privilege) stalls every message
/// alike, and retrying until an operator fixes it loses nothing.
public enum FailureKind: Sendable, Equatable {
    case transient
    /// Will never succeed for this message: reject it with `code`.
    case permanent(RejectionCode)

    /// The kind of `error`.
    public static func of(_ error: any Error) -> FailureKind {
        switch error {
        case let failure as MessageFailure:
            return .permanent(failure.code)
        case let failure as AuditStoreError:
            return failure.isPermanentForData ? .permanent(.unstorable) : .transient
        case let failure as any PermanentFailureReporting:
            return failure.isPermanentForMessage ? .permanent(.unpublishable) : .transient
        default:
            return .transient
        }
    }
}

/// An error of a dependency that can tell a failure of this message from one of the dependency
/// (adopted by the Kafka errors the publisher throws).
public protocol PermanentFailureReporting: Error {
    /// True when the same message can never succeed.
    var isPermanentForMessage: Bool { get }
}

/// A failure that is permanent for the message in hand, raised by the worker itself (a result
/// that does not fit the broker's message size, a row the audit adapter cannot map).
public struct MessageFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: RejectionCode
    public var message: String

    public init(_ code: RejectionCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The broker's refusals of a message itself (too large, invalid) are permanent for it.
extension KafkaError: PermanentFailureReporting {}
