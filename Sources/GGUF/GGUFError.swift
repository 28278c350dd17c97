/// Everything that can be wrong with a GGUF file. Each message names the field and the
/// offending value so a user can tell a truncated download from a hostile file.
public struct GGUFError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Bounds applied while reading, before any allocation that the file's size cannot justify.
public struct GGUFLimits: Sendable {
    public var maxStringBytes = 16 << 20
    /// Metadata keys are short dotted names; anything longer is not a real key.
    public var maxKeyBytes = 1 << 16
    /// The largest real vocabularies (and merge lists) are ~260k entries: 8x headroom.
    public var maxArrayCount = 1 << 21
    /// Total array elements over all metadata (a real file has tokens, types, scores, merges:
    /// about 1M at most). Each element costs ~24 bytes in memory however few bytes it takes in
    /// the file, so this caps metadata memory at ~100 MB for any file.
    public var maxMetadataElements = 1 << 22
    public var maxArrayDepth = 2
    public var maxTensorCount = 1 << 20
    public var maxMetadataCount = 1 << 16
    public var maxDimensions = 4
    public var maxTensorNameBytes = 64
    /// The GGUF spec requires the alignment to be a multiple of 8 (and llama.cpp a power of two).
    public var minAlignment = 8
    public var maxAlignment = 1 << 16
    public init() {}
}
