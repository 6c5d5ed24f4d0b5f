import Crypto
import Diffusion
import Foundation
import Tensor

/// A SafeGen edit (Li et al., CCS 2024) as replacement tensors for the UNet's vision-only
/// self-attention (`attn1`) parameters.
///
/// SafeGen fine-tunes only `attn1` so the model cannot render nudity whatever the text; the
/// text encoder and cross-attention stay untouched, so it composes with SLD, SEGA and negative
/// prompts. Chaperone refuses an overlay that names anything but an `attn1` parameter of the
/// loaded UNet, or mismatches a shape, and records the overlay's sha256 with every decision.
public struct SafeGenOverlay: Sendable {
    /// Where the overlay came from (file or folder path), for messages and the audit trail.
    public let source: String
    /// Lower-case hex sha256: of the overlay file, or of the canonical safetensors encoding of
    /// the extracted tensors when the edit came as a full `unet/` folder.
    public let sha256: String
    /// The replacement tensors by diffusers name.
    public let tensors: WeightStore

    /// Whether `name` may be replaced by SafeGen: a transformer block's self-attention parameter.
    public static func isSelfAttentionParameter(_ name: String) -> Bool {
        let parts = name.split(separator: ".")
        return parts.contains("attn1") && parts.contains("transformer_blocks")
    }

    /// Loads an overlay file (safetensors). A truncated or malformed file is an error naming it;
    /// the names are checked against a UNet by ``apply(to:)`` and ``validate(against:)``.
    public static func load(file: URL) throws -> SafeGenOverlay {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: file, options: .alwaysMapped)
        } catch {
            throw GuidanceError.invalidOverlay(file: file.path, "cannot read: \(error.localizedDescription)")
        }
        let store: WeightStore
        do {
            store = try WeightStore(files: [file])
        } catch {
            throw GuidanceError.invalidOverlay(file: file.path, "\(error)")
        }
        if store.names.isEmpty {
            throw GuidanceError.invalidOverlay(file: file.path, "holds no tensors")
        }
        return SafeGenOverlay(source: file.path, sha256: hex(SHA256.hash(data: bytes)), tensors: store)
    }

    /// Takes the `attn1` tensors of a full SafeGen-edited `unet/` folder, after checking that it
    /// differs from `base` in nothing else (same names and shapes, equal values outside `attn1`).
    public static func extract(editedUNet directory: URL, base: UNet2DConditionModel) throws -> SafeGenOverlay {
        let edited: WeightStore
        do {
            edited = try WeightStore.load(folder: directory)
        } catch {
            throw GuidanceError.invalidOverlay(file: directory.path, "\(error)")
        }
        var replaced: [String: Tensor] = [:]
        for name in edited.names {
            guard let original = base.parameters[name] else {
                throw GuidanceError.invalidOverlay(file: directory.path, "tensor '\(name)' is not a parameter of the base UNet")
            }
            guard edited.shape(of: name) == original.shape else {
                throw GuidanceError.invalidOverlay(
                    file: directory.path,
                    "tensor '\(name)' has shape \(edited.shape(of: name) ?? []), the base UNet's is \(original.shape)")
            }
            let tensor = try edited.tensor(name)
            if isSelfAttentionParameter(name) {
                replaced[name] = tensor
            } else if tensor.scalars != original.float32().scalars {
                throw GuidanceError.invalidOverlay(
                    file: directory.path, "tensor '\(name)' differs from the base UNet, but SafeGen edits only self-attention (attn1)")
            }
        }
        if let missing = base.parameters.keys.sorted().first(where: { !edited.contains($0) }) {
            throw GuidanceError.invalidOverlay(file: directory.path, "the edited UNet lacks tensor '\(missing)'")
        }
        if replaced.isEmpty {
            throw GuidanceError.invalidOverlay(file: directory.path, "holds no attn1 tensors")
        }
        let canonical = try SafeTensorsWriter.encode(replaced)
        return SafeGenOverlay(
            source: directory.path, sha256: hex(SHA256.hash(data: canonical)), tensors: WeightStore(tensors: replaced))
    }

    /// Checks every tensor against `unet`: it must be an `attn1` parameter of that UNet with the
    /// same shape. Throws naming the first offender (in name order).
    public func validate(against unet: UNet2DConditionModel) throws {
        for name in tensors.names {
            guard Self.isSelfAttentionParameter(name) else {
                throw GuidanceError.invalidOverlay(
                    file: source, "tensor '\(name)' is not a self-attention (attn1) parameter; SafeGen overlays may replace only attn1")
            }
            guard let current = unet.parameters[name] else {
                throw GuidanceError.invalidOverlay(file: source, "tensor '\(name)' is not a parameter of the loaded UNet")
            }
            guard tensors.shape(of: name) == current.shape else {
                throw GuidanceError.invalidOverlay(
                    file: source, "tensor '\(name)' has shape \(tensors.shape(of: name) ?? []), the UNet's is \(current.shape)")
            }
        }
    }

    /// The edited UNet: `unet` with the overlay's tensors, sharing every other tensor (no copy
    /// of the UNet), so a worker can hold base and edited weights side by side.
    public func apply(to unet: UNet2DConditionModel) throws -> UNet2DConditionModel {
        try validate(against: unet)
        return try unet.replacingParameters(tensors, origin: source, allowed: Self.isSelfAttentionParameter)
    }
}

func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    digest.map { String(format: "%02x", $0) }.joined()
}
