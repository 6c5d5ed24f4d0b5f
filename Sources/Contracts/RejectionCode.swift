/// Why a request was rejected: a stable machine-readable code (the DLQ `reason_code`).
public enum RejectionCode: String, Codable, Sendable, CaseIterable {
    /// The message is larger than the configured maximum.
    case oversizeMessage = "oversize_message"
    /// The message has no value (a tombstone or empty payload).
    case emptyMessage = "empty_message"
    /// The bytes are not valid UTF-8.
    case invalidUTF8 = "invalid_utf8"
    /// The text is not JSON.
    case malformedJSON = "malformed_json"
    /// The JSON document (or a nested member) is not an object where one is required.
    case notAnObject = "not_an_object"
    /// A required field is missing.
    case missingField = "missing_field"
    /// A field has the wrong JSON type (or a number that is not an integer where one is required).
    case wrongType = "wrong_type"
    /// A field that the contract does not define.
    case unknownField = "unknown_field"
    /// `request_id` does not match `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`.
    case invalidRequestID = "invalid_request_id"
    /// `tenant` does not match `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
    case invalidTenant = "invalid_tenant"
    /// The prompt is empty.
    case emptyPrompt = "empty_prompt"
    /// A prompt (or a concept text) is longer than the worker allows.
    case promptTooLong = "prompt_too_long"
    /// A prompt (or a concept text) contains NUL or another control character.
    case controlCharacters = "control_characters"
    /// `steps` is below 1 or above the worker's maximum.
    case stepsOutOfRange = "steps_out_of_range"
    /// `width` or `height` is not a multiple of 8.
    case dimensionNotMultipleOf8 = "dimension_not_multiple_of_8"
    /// `width` or `height` is below 64 or `width * height` exceeds the worker's maximum pixels.
    case dimensionsOutOfRange = "dimensions_out_of_range"
    /// `seed` is negative or above 2^53 - 1.
    case seedOutOfRange = "seed_out_of_range"
    /// `guidance_scale` is not finite or outside 0 ... the worker's maximum.
    case guidanceOutOfRange = "guidance_out_of_range"
    /// `scheduler` is not one of the worker's allowed schedulers.
    case unsupportedScheduler = "unsupported_scheduler"
    /// A mitigation is malformed (both or neither of preset/parameters, a share outside 0 ... 1, ...).
    case invalidMitigation = "invalid_mitigation"
    /// `attributes` has too many entries, a malformed key, or an empty, oversize or control-character value.
    case invalidAttributes = "invalid_attributes"
    /// The request was valid but generating or scoring it failed repeatedly (e.g. a numeric
    /// failure for this prompt); the worker gives up on it instead of blocking its partition.
    case generationFailed = "generation_failed"
    /// Another message already holds this `request_id` with different bytes (another prompt, or
    /// another tenant): the first request keeps the id and its answer; this one is recorded under
    /// the synthetic id of its position and named against the first in its DLQ envelope.
    case duplicateRequestID = "duplicate_request_id"
    /// The message was delivered `limits.max_attempts` times without its processing ever ending
    /// (the worker crashed or was killed on it): it is quarantined without being tried again.
    case poison = "poison"
    /// The audit database refuses to store what this message produced (a data error such as
    /// text PostgreSQL cannot hold); the rejection is stored with the offending text replaced.
    case unstorable = "unstorable"
    /// The result cannot be published: it is larger than the producer's message size limit and
    /// no image store could take the image, or the broker refuses the message for good.
    case unpublishable = "unpublishable"
}

/// A request the worker will not process, with its code and a message that names the field
/// and the limit. It is the error type of the Contracts module.
///
/// The message never quotes the prompt (prompts may be sensitive; the DLQ keeps the bytes).
public struct RequestRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: RejectionCode
    public var message: String
    /// The request id, if it could be read from the message.
    public var requestID: String?

    public init(_ code: RejectionCode, _ message: String, requestID: String? = nil) {
        self.code = code
        self.message = message
        self.requestID = requestID
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
