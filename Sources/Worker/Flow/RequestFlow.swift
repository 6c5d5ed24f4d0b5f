import AuditStore
import Contracts

/// The steps of one request, as a pure state machine: the driver performs each ``Action``
/// and reports the result as an ``Event``. No I/O here, so the ordering rules are tested
/// directly:
///
/// - a valid request first looks for its audit row; if one exists (a redelivery) its stored
///   bytes are republished and nothing is generated again;
/// - otherwise it is generated, scored and decided, and the audit row is inserted together
///   with the exact payload *before* anything is published;
/// - a rejected request is recorded (decision `rejected`) and its DLQ envelope published;
/// - the offset is committed only after the publish is acknowledged (or in the same Kafka
///   transaction);
/// - a hand-back (partition revoked, or shutdown past its deadline) stops at the next step
///   boundary and never commits: the next owner of the partition receives the message again,
///   finds the audit row if there is one, and republishes the identical bytes.
///
/// The audit row found for a request id must answer the same message: its `request_sha256`
/// equals the SHA-256 of the message in hand. A row for other bytes under the same id (another
/// prompt, another tenant) is never republished: the flow asks for a `duplicate_request_id`
/// rejection instead (``Action/rejectDuplicate(of:)``), recorded under the synthetic id of this
/// message's position.
///
/// A transient failure is retried by the driver (with backoff); the state does not move, so
/// nothing is ever committed past a request without an audit row. A failure that is permanent
/// for the message makes the driver start a new flow with the message's rejection.
public struct RequestFlow: Sendable, Equatable {
    /// What the driver must do next.
    public enum Action: Sendable, Equatable {
        case lookUp(requestID: String)
        /// Another message holds the request id: record this one as a `duplicate_request_id`
        /// rejection (a new flow) naming `first`.
        case rejectDuplicate(of: DecisionRecord)
        case generate(GenerationRequest)
        case record(DecisionRecord)
        case publish(DecisionRecord)
        case commit(SourcePosition)
        case publishAndCommit(DecisionRecord, SourcePosition)
        case finish(Outcome)
    }

    /// What the driver observed.
    public enum Event: Sendable, Equatable {
        case lookedUp(DecisionRecord?)
        /// Generation, scoring and the decision are done; this is the row to record.
        case produced(DecisionRecord)
        case recorded(InsertOutcome)
        case published
        case committed
        /// Stop at this boundary without committing (revocation or forced shutdown).
        case handBack(reason: String)
    }

    /// How a request ended.
    public enum Outcome: Sendable, Equatable {
        /// Published (or republished) and committed.
        case delivered(DecisionRecord, republished: Bool)
        /// Left uncommitted for the next owner of the partition.
        case handedBack(reason: String)
    }

    /// Where the request is.
    public enum State: Sendable, Equatable {
        case lookingUp(GenerationRequest)
        case duplicate(of: DecisionRecord)
        case generating(GenerationRequest)
        case recording(DecisionRecord)
        case publishing(DecisionRecord, republished: Bool)
        case committing(DecisionRecord, republished: Bool)
        case done(Outcome)
    }

    /// The input of the flow: a valid request, or the audit row of a rejected one.
    public enum Input: Sendable, Equatable {
        case valid(GenerationRequest)
        case rejected(DecisionRecord)
    }

    public private(set) var state: State
    public let source: SourcePosition
    public let transactional: Bool
    /// SHA-256 of the message value; nil skips the duplicate check (rows are then trusted).
    public let requestSHA256: String?

    public init(_ input: Input, source: SourcePosition, transactional: Bool, requestSHA256: String? = nil) {
        self.source = source
        self.transactional = transactional
        self.requestSHA256 = requestSHA256
        switch input {
        case .valid(let request): state = .lookingUp(request)
        case .rejected(let entry): state = .recording(entry)
        }
    }

    /// The action for the current state.
    public var action: Action {
        switch state {
        case .lookingUp(let request): .lookUp(requestID: request.requestID)
        case .duplicate(let first): .rejectDuplicate(of: first)
        case .generating(let request): .generate(request)
        case .recording(let entry): .record(entry)
        case .publishing(let stored, _): transactional ? .publishAndCommit(stored, source) : .publish(stored)
        case .committing: .commit(source)
        case .done(let outcome): .finish(outcome)
        }
    }

    /// Applies `event` and returns the next action. An event that does not fit the state is a
    /// driver bug; it leaves the state unchanged.
    @discardableResult
    public mutating func handle(_ event: Event) -> Action {
        switch (state, event) {
        case (.done, _):
            break
        case (_, .handBack(let reason)):
            state = .done(.handedBack(reason: reason))
        case (.lookingUp(let request), .lookedUp(let found)):
            if let found {
                state = answers(found) ? .publishing(found, republished: true) : .duplicate(of: found)
            } else {
                state = .generating(request)
            }
        case (.generating, .produced(let entry)):
            state = .recording(entry)
        case (.recording, .recorded(let outcome)):
            switch outcome {
            case .inserted(let stored): state = .publishing(stored, republished: false)
            case .alreadyPresent(let stored) where answers(stored): state = .publishing(stored, republished: true)
            case .alreadyPresent(let stored): state = .duplicate(of: stored)
            }
        case (.publishing(let stored, let republished), .published) where !transactional:
            state = .committing(stored, republished: republished)
        case (.publishing(let stored, let republished), .committed) where transactional:
            state = .done(.delivered(stored, republished: republished))
        case (.committing(let stored, let republished), .committed):
            state = .done(.delivered(stored, republished: republished))
        default:
            break
        }
        return action
    }

    /// Whether `stored` answers this message: same bytes, a row without the hash, or the row
    /// of this very position (its synthetic id; a position holds one message).
    private func answers(_ stored: DecisionRecord) -> Bool {
        guard let requestSHA256 else { return true }
        if stored.requestID == source.syntheticRequestID {
            return true
        }
        return stored.answers(requestSHA256: requestSHA256)
    }
}
