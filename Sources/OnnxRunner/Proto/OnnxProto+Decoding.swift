import Foundation

// Field numbers follow onnx/onnx.proto (IR version 9). Unknown fields are skipped.

extension OnnxModelProto {
    /// Decodes a serialized `ModelProto`.
    public init(serialized bytes: [UInt8]) throws(OnnxError) {
        var model = OnnxModelProto()
        let result: Result<Void, OnnxError> = bytes.withUnsafeBytes { buffer in
            do throws(OnnxError) {
                var reader = ProtoReader(bytes: buffer, context: "ModelProto")
                try model.decode(&reader)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        self = model
    }

    mutating func decode(_ reader: inout ProtoReader) throws(OnnxError) {
        while !reader.isAtEnd {
            let (field, wire) = try reader.readKey()
            switch field {
            case 1:
                try reader.expect(wire, .varint, field: "ModelProto.ir_version")
                irVersion = try reader.readInt64()
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "ModelProto.producer_name")
                producerName = try reader.readString()
            case 3:
                try reader.expect(wire, .lengthDelimited, field: "ModelProto.producer_version")
                producerVersion = try reader.readString()
            case 7:
                try reader.expect(wire, .lengthDelimited, field: "ModelProto.graph")
                var sub = try reader.subReader(context: "GraphProto")
                var decoded = OnnxGraphProto()
                try decoded.decode(&sub)
                graph = decoded
            case 8:
                try reader.expect(wire, .lengthDelimited, field: "ModelProto.opset_import")
                var sub = try reader.subReader(context: "OperatorSetIdProto")
                var opset = OnnxOpsetImport(domain: "", version: 0)
                while !sub.isAtEnd {
                    let (f, w) = try sub.readKey()
                    switch f {
                    case 1:
                        try sub.expect(w, .lengthDelimited, field: "OperatorSetIdProto.domain")
                        opset.domain = try sub.readString()
                    case 2:
                        try sub.expect(w, .varint, field: "OperatorSetIdProto.version")
                        opset.version = try sub.readInt64()
                    default: try sub.skip(w)
                    }
                }
                opsetImports.append(opset)
            default:
                try reader.skip(wire)
            }
        }
    }
}

extension OnnxGraphProto {
    mutating func decode(_ reader: inout ProtoReader) throws(OnnxError) {
        while !reader.isAtEnd {
            let (field, wire) = try reader.readKey()
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "GraphProto.node")
                var sub = try reader.subReader(context: "NodeProto #\(nodes.count)")
                var node = OnnxNodeProto()
                try node.decode(&sub)
                nodes.append(node)
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "GraphProto.name")
                name = try reader.readString()
            case 5:
                try reader.expect(wire, .lengthDelimited, field: "GraphProto.initializer")
                var sub = try reader.subReader(context: "initializer TensorProto #\(initializers.count)")
                var tensor = OnnxTensorProto()
                try tensor.decode(&sub)
                initializers.append(tensor)
            case 11, 12, 13:
                try reader.expect(wire, .lengthDelimited, field: "GraphProto.input/output/value_info")
                var sub = try reader.subReader(context: "ValueInfoProto")
                var info = OnnxValueInfoProto()
                try info.decode(&sub)
                if field == 11 { inputs.append(info) } else if field == 12 { outputs.append(info) } else { valueInfo.append(info) }
            case 15:
                sparseInitializerCount += 1
                try reader.skip(wire)
            default:
                try reader.skip(wire)
            }
        }
    }
}

extension OnnxNodeProto {
    mutating func decode(_ reader: inout ProtoReader) throws(OnnxError) {
        while !reader.isAtEnd {
            let (field, wire) = try reader.readKey()
            switch field {
            case 1, 2, 3, 4, 7:
                try reader.expect(wire, .lengthDelimited, field: "NodeProto field \(field)")
                let text = try reader.readString()
                switch field {
                case 1: inputs.append(text)
                case 2: outputs.append(text)
                case 3: name = text
                case 4: opType = text
                default: domain = text
                }
            case 5:
                try reader.expect(wire, .lengthDelimited, field: "NodeProto.attribute")
                var sub = try reader.subReader(context: "AttributeProto of node '\(name.isEmpty ? opType : name)'")
                var attribute = OnnxAttributeProto()
                try attribute.decode(&sub)
                attributes.append(attribute)
            default:
                try reader.skip(wire)
            }
        }
    }
}

extension OnnxAttributeProto {
    mutating func decode(_ reader: inout ProtoReader) throws(OnnxError) {
        while !reader.isAtEnd {
            let (field, wire) = try reader.readKey()
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "AttributeProto.name")
                name = try reader.readString()
            case 2:
                try reader.expect(wire, .fixed32, field: "AttributeProto.f")
                f = try reader.readFloat()
            case 3:
                try reader.expect(wire, .varint, field: "AttributeProto.i")
                i = try reader.readInt64()
            case 4:
                try reader.expect(wire, .lengthDelimited, field: "AttributeProto.s")
                s = try reader.readBytes()
            case 5, 10:
                try reader.expect(wire, .lengthDelimited, field: "AttributeProto.t")
                var sub = try reader.subReader(context: "TensorProto of attribute '\(name)'")
                var tensor = OnnxTensorProto()
                try tensor.decode(&sub)
                if field == 5 { t = tensor } else { tensors.append(tensor) }
            case 6, 11:
                hasGraph = true
                try reader.skip(wire)
            case 7:
                try reader.readRepeatedFloat(wire, into: &floats)
            case 8:
                try reader.readRepeatedInt64(wire, into: &ints)
            case 9:
                try reader.expect(wire, .lengthDelimited, field: "AttributeProto.strings")
                strings.append(try reader.readBytes())
            case 20:
                try reader.expect(wire, .varint, field: "AttributeProto.type")
                let raw = try reader.readInt32()
                guard let decoded = Kind(rawValue: raw) else {
                    throw reader.error("unknown attribute type \(raw) for attribute '\(name)'")
                }
                kind = decoded
            case 21:
                try reader.expect(wire, .lengthDelimited, field: "AttributeProto.ref_attr_name")
                refAttrName = try reader.readString()
            default:
                try reader.skip(wire)
            }
        }
    }
}

extension OnnxTensorProto {
    mutating func decode(_ reader: inout ProtoReader) throws(OnnxError) {
        fileOffset = reader.offset
        while !reader.isAtEnd {
            let (field, wire) = try reader.readKey()
            switch field {
            case 1: try reader.readRepeatedInt64(wire, into: &dims)
            case 2:
                try reader.expect(wire, .varint, field: "TensorProto.data_type")
                dataType = try reader.readInt32()
            case 4: try reader.readRepeatedFloat(wire, into: &floatData)
            case 5: try reader.readRepeatedInt32(wire, into: &int32Data)
            case 7: try reader.readRepeatedInt64(wire, into: &int64Data)
            case 8:
                try reader.expect(wire, .lengthDelimited, field: "TensorProto.name")
                name = try reader.readString()
            case 9:
                try reader.expect(wire, .lengthDelimited, field: "TensorProto.raw_data")
                rawData = try reader.readBytes()
            case 10: try reader.readRepeatedDouble(wire, into: &doubleData)
            case 13:
                isExternal = true
                try reader.skip(wire)
            case 14:
                try reader.expect(wire, .varint, field: "TensorProto.data_location")
                if try reader.readInt32() == 1 { isExternal = true }
            default:
                try reader.skip(wire)
            }
        }
    }
}

extension OnnxValueInfoProto {
    mutating func decode(_ reader: inout ProtoReader) throws(OnnxError) {
        while !reader.isAtEnd {
            let (field, wire) = try reader.readKey()
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "ValueInfoProto.name")
                name = try reader.readString()
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "ValueInfoProto.type")
                var type = try reader.subReader(context: "TypeProto of '\(name)'")
                while !type.isAtEnd {
                    let (f, w) = try type.readKey()
                    guard f == 1 else { try type.skip(w); continue }
                    try type.expect(w, .lengthDelimited, field: "TypeProto.tensor_type")
                    var tensorType = try type.subReader(context: "TypeProto.Tensor of '\(name)'")
                    try decodeTensorType(&tensorType)
                }
            default:
                try reader.skip(wire)
            }
        }
    }

    private mutating func decodeTensorType(_ reader: inout ProtoReader) throws(OnnxError) {
        while !reader.isAtEnd {
            let (field, wire) = try reader.readKey()
            switch field {
            case 1:
                try reader.expect(wire, .varint, field: "TypeProto.Tensor.elem_type")
                elementType = try reader.readInt32()
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "TypeProto.Tensor.shape")
                var shapeReader = try reader.subReader(context: "TensorShapeProto of '\(name)'")
                var dims: [Dimension] = []
                while !shapeReader.isAtEnd {
                    let (f, w) = try shapeReader.readKey()
                    guard f == 1 else { try shapeReader.skip(w); continue }
                    try shapeReader.expect(w, .lengthDelimited, field: "TensorShapeProto.dim")
                    var dimReader = try shapeReader.subReader(context: "TensorShapeProto.Dimension of '\(name)'")
                    var dim = Dimension.unknown
                    while !dimReader.isAtEnd {
                        let (df, dw) = try dimReader.readKey()
                        switch df {
                        case 1:
                            try dimReader.expect(dw, .varint, field: "Dimension.dim_value")
                            dim = .value(try dimReader.readInt64())
                        case 2:
                            try dimReader.expect(dw, .lengthDelimited, field: "Dimension.dim_param")
                            dim = .parameter(try dimReader.readString())
                        default: try dimReader.skip(dw)
                        }
                    }
                    dims.append(dim)
                }
                shape = dims
            default:
                try reader.skip(wire)
            }
        }
    }
}
