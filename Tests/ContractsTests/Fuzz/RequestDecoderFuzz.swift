import Contracts
import Foundation

/// Fuzz entry point for the request decoder, shared by the coverage-guided fuzzer
/// (`ops/fuzz/run request-decoder`) and the corpus replay tests. Any input must end in a
/// request or a rejection with a reason, never a crash; and what the decoder accepts it
/// accepts again, unchanged, after re-encoding.
enum RequestDecoderFuzz {
    static let validator = RequestValidator()

    static func run(_ bytes: [UInt8]) {
        switch validator.decode(bytes) {
        case .success(let request):
            guard let encoded = try? JSONEncoder().encode(request) else {
                fatalError("an accepted request does not encode: \(request.requestID)")
            }
            switch validator.decode(Array(encoded)) {
            case .success(let again):
                precondition(again == request, "an accepted request changes when re-encoded: \(request.requestID)")
            case .failure(let rejection):
                fatalError("an accepted request is rejected after re-encoding: \(rejection.code.rawValue) \(rejection.message)")
            }
        case .failure(let rejection):
            precondition(!rejection.message.isEmpty, "a rejection without a reason (\(rejection.code.rawValue))")
            if let id = rejection.requestID {
                precondition(!id.isEmpty && id.utf8.count <= 128, "a rejection carries an unusable request id")
            }
        }
    }
}
