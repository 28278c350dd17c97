import Foundation

/// Limits as llama-server sets them: what a model reads in one call stays small.
enum FileToolLimits {
    static let readBytes = 16 * 1024
    static let base64Bytes = 32 * 1024 * 1024
}

/// read_file: a file's text, optionally a 1-based line range, optionally numbered.
public struct ReadFileTool: AgentTool {
    public let name = "read_file"
    public let displayName = "Read file"
    public let writes = false
    public let description = "Read a text file. start_line/end_line (1-based, inclusive) pick a range; append_loc prefixes every line with its number and an arrow (\"12\u{2192}...\")."
    public let parameters = [
        ToolParameter("path", "string", "File to read", required: true),
        ToolParameter("start_line", "integer", "First line, 1-based (default 1)"),
        ToolParameter("end_line", "integer", "Last line, inclusive (default: the end of the file)"),
        ToolParameter("append_loc", "boolean", "Prefix each line with its line number"),
    ]
    public init() {}

    public func invoke(_ a: ToolArguments, in workspace: ToolWorkspace, output: ((String) -> Bool)?) throws -> [String: Any] {
        let path = try a.requiredString("path")
        let startLine = try a.int("start_line") ?? 1
        let endLine = try a.int("end_line")
        let appendLocation = try a.bool("append_loc") ?? false
        let full = workspace.resolve(path)
        guard let size = FileSystem.regularFileSize(full) else { return ["error": "cannot stat file: \(path)"] }
        if workspace.base64Files {
            guard size <= FileToolLimits.base64Bytes else {
                return ["error": "file too large (\(size) bytes, max \(FileToolLimits.base64Bytes))"]
            }
            guard let data = FileManager.default.contents(atPath: full) else { return ["error": "failed to open file: \(path)"] }
            return ["base64": data.base64EncodedString(), "size_bytes": data.count]
        }
        if size > FileToolLimits.readBytes && endLine == nil {
            return ["error": "file too large (\(size) bytes, max \(FileToolLimits.readBytes)). Use start_line/end_line to read a portion."]
        }
        guard let data = FileManager.default.contents(atPath: full) else { return ["error": "failed to open file: \(path)"] }
        var text = ""
        for (index, line) in Lines.split(Array(data)).enumerated() {
            let number = index + 1
            if number < startLine { continue }
            if let endLine, number > endLine { break }
            let piece = (appendLocation ? "\(number)\u{2192}" : "") + String(decoding: line, as: UTF8.self) + "\n"
            if text.utf8.count + piece.utf8.count > FileToolLimits.readBytes {
                text += "[output truncated]"
                break
            }
            text += piece
        }
        return ["plain_text_response": text]
    }
}

/// write_file: creates or replaces a file, parent folders included.
public struct WriteFileTool: AgentTool {
    public let name = "write_file"
    public let displayName = "Write file"
    public let writes = true
    public let description = "Write a file, creating it and its parent folders if needed, replacing it if it exists. For changes to part of a file, edit_file is the better tool."
    public let parameters = [
        ToolParameter("path", "string", "File to write", required: true),
        ToolParameter("content", "string", "The file's new content", required: true),
    ]
    public init() {}

    public func invoke(_ a: ToolArguments, in workspace: ToolWorkspace, output: ((String) -> Bool)?) throws -> [String: Any] {
        let path = try a.requiredString("path")
        let content = try a.requiredString("content")
        guard FileSystem.write(Array(content.utf8), to: workspace.resolve(path)) else {
            return ["error": "failed to write file: \(path)"]
        }
        return ["result": "file written successfully", "path": path, "bytes": content.utf8.count]
    }
}

/// edit_file: exact text replacements. Each old_text must occur once in the original file;
/// when one does not occur exactly, all are matched with trailing blanks and typographic
/// quotes, dashes and spaces folded to ASCII (what models get wrong most), and the lines no
/// edit touches are kept byte for byte.
public struct EditFileTool: AgentTool {
    public let name = "edit_file"
    public let displayName = "Edit file"
    public let writes = true
    public let description = "Edit a file by exact text replacement. Every edits[].old_text must appear exactly once in the file as it is now (all edits are matched against the original, not one after another) and edits must not overlap: merge neighbouring changes into one edit. To replace the whole file use write_file."
    public let parameters = [
        ToolParameter("path", "string", "File to edit", required: true),
        ToolParameter("edits", "array", "The replacements to make", required: true, items: [
            "type": "object",
            "properties": ["old_text": ["type": "string", "description": "Text to find: unique in the file, not overlapping another edit"],
                           "new_text": ["type": "string", "description": "Text to put in its place"]],
            "required": ["old_text", "new_text"],
        ]),
    ]
    public init() {}

    struct Match {
        let edit: Int
        let offset: Int
        let length: Int
        let replacement: [UInt8]
    }

    public func invoke(_ a: ToolArguments, in workspace: ToolWorkspace, output: ((String) -> Bool)?) throws -> [String: Any] {
        let path = try a.requiredString("path")
        guard let list = try a.array("edits"), !list.isEmpty else { return ["error": "\"edits\" must be a non-empty array"] }
        var edits: [(old: [UInt8], new: [UInt8])] = []
        for (i, item) in list.enumerated() {
            guard let e = item as? [String: Any], let old = e["old_text"] as? String, let new = e["new_text"] as? String else {
                throw ToolArgumentError("edits[\(i)] must be an object with string old_text and new_text")
            }
            if let extra = e.keys.sorted().first(where: { !["old_text", "new_text"].contains($0) }) {
                throw ToolArgumentError("edits[\(i)] has no field '\(extra)' (it takes old_text, new_text)")
            }
            guard !old.isEmpty else { return ["error": "edits[\(i)].old_text must not be empty"] }
            edits.append((Array(old.utf8), Array(new.utf8)))
        }
        let full = workspace.resolve(path)
        guard let data = FileManager.default.contents(atPath: full) else { return ["error": "failed to open file: \(path)"] }
        let original = Array(data)
        let folded = FuzzyText.fold(original)
        var fuzzy = false
        for (i, e) in edits.enumerated() where Bytes.find(e.old, in: original) == nil {
            guard Bytes.find(FuzzyText.fold(e.old), in: folded) != nil else {
                return ["error": "could not find edits[\(i)].old_text in \(path), it must match the file's current content exactly"]
            }
            fuzzy = true
        }
        let base = fuzzy ? folded : original
        var matches: [Match] = []
        for (i, e) in edits.enumerated() {
            // Uniqueness is judged on folded text, so a copy differing only in blanks counts.
            let count = Bytes.occurrences(of: FuzzyText.fold(e.old), in: folded)
            if count > 1 { return ["error": "found \(count) occurrences of edits[\(i)].old_text in \(path), it must be unique"] }
            let needle = fuzzy ? FuzzyText.fold(e.old) : e.old
            guard let at = Bytes.find(needle, in: base) else {
                return ["error": "could not find edits[\(i)].old_text in \(path), it must match the file's current content exactly"]
            }
            matches.append(Match(edit: i, offset: at, length: needle.count, replacement: e.new))
        }
        matches.sort { $0.offset < $1.offset }
        for (earlier, later) in zip(matches, matches.dropFirst()) where earlier.offset + earlier.length > later.offset {
            return ["error": "edits[\(earlier.edit)] and edits[\(later.edit)] overlap in \(path); merge them into one edit or target disjoint regions"]
        }
        let result = fuzzy ? Self.replaceKeepingUntouchedLines(original: original, folded: base, matches)
                           : Self.replace(base, matches, origin: 0)
        guard result != original else { return ["error": "no changes made: the replacement(s) produced identical content"] }
        guard FileSystem.write(result, to: full) else { return ["error": "failed to write file: \(path)"] }
        return ["result": "file edited successfully", "path": path, "edits_applied": matches.count]
    }

    /// `matches` sorted and disjoint, their offsets relative to `text` plus `origin`.
    static func replace(_ text: [UInt8], _ matches: [Match], origin: Int) -> [UInt8] {
        var out = text
        for m in matches.reversed() {
            let at = m.offset - origin
            out.replaceSubrange(at..<(at + m.length), with: m.replacement)
        }
        return out
    }

    /// Applies matches found in the folded text line group by line group; lines outside every
    /// group come from the original, so folding changes nothing the edits did not touch.
    static func replaceKeepingUntouchedLines(original: [UInt8], folded: [UInt8], _ matches: [Match]) -> [UInt8] {
        let originalLines = Lines.splitKeepingEnds(original)
        let foldedSpans = Lines.spans(folded)
        var groups: [(first: Int, end: Int, matches: [Match])] = []
        for m in matches {
            guard let first = foldedSpans.firstIndex(where: { m.offset >= $0.lowerBound && m.offset < $0.upperBound }) else { continue }
            var last = first
            while last < foldedSpans.count - 1 && foldedSpans[last].upperBound < m.offset + m.length { last += 1 }
            if let g = groups.last, first < g.end {
                groups[groups.count - 1] = (g.first, max(g.end, last + 1), g.matches + [m])
            } else {
                groups.append((first, last + 1, [m]))
            }
        }
        var out: [UInt8] = []
        var nextLine = 0
        for g in groups {
            for i in nextLine..<g.first { out += originalLines[i] }
            let span = foldedSpans[g.first].lowerBound..<foldedSpans[g.end - 1].upperBound
            out += replace(Array(folded[span]), g.matches, origin: span.lowerBound)
            nextLine = g.end
        }
        for i in nextLine..<originalLines.count { out += originalLines[i] }
        return out
    }
}

/// Text folded for forgiving matches, line by line (line count and order kept): trailing
/// blanks dropped, typographic quotes, dashes, minus and unusual spaces made ASCII.
enum FuzzyText {
    private static let foldings: [([UInt8], UInt8)] = {
        var table: [([UInt8], UInt8)] = []
        for b: UInt8 in [0x98, 0x99, 0x9A, 0x9B] { table.append(([0xE2, 0x80, b], UInt8(ascii: "'"))) }
        for b: UInt8 in [0x9C, 0x9D, 0x9E, 0x9F] { table.append(([0xE2, 0x80, b], UInt8(ascii: "\""))) }
        for b: UInt8 in 0x90...0x95 { table.append(([0xE2, 0x80, b], UInt8(ascii: "-"))) }
        table.append(([0xE2, 0x88, 0x92], UInt8(ascii: "-")))
        table.append(([0xC2, 0xA0], UInt8(ascii: " ")))
        for b: UInt8 in 0x82...0x8A { table.append(([0xE2, 0x80, b], UInt8(ascii: " "))) }
        for s: [UInt8] in [[0xE2, 0x80, 0xAF], [0xE2, 0x81, 0x9F], [0xE3, 0x80, 0x80]] { table.append((s, UInt8(ascii: " "))) }
        return table
    }()

    static func fold(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        for (i, line) in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if i > 0 { out.append(UInt8(ascii: "\n")) }
            var end = line.endIndex
            while end > line.startIndex, [0x20, 0x09, 0x0D].contains(line[end - 1]) { end -= 1 }
            var j = line.startIndex
            next: while j < end {
                for (from, to) in foldings where j + from.count <= end && line[j..<(j + from.count)].elementsEqual(from) {
                    out.append(to)
                    j += from.count
                    continue next
                }
                out.append(line[j])
                j += 1
            }
        }
        return out
    }
}

/// Lines as C++'s getline reads them: split at "\n", no empty last line after a final "\n".
enum Lines {
    static func split(_ text: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// Lines with their "\n" kept, so untouched ones can be copied back verbatim.
    static func splitKeepingEnds(_ text: [UInt8]) -> [ArraySlice<UInt8>] { spans(text).map { text[$0] } }

    static func spans(_ text: [UInt8]) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        var start = 0
        while start < text.count {
            let end = text[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? text.count
            spans.append(start..<end)
            start = end
        }
        return spans
    }
}

/// Byte-string search (file contents need not be valid UTF-8).
enum Bytes {
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty, haystack.count - start >= needle.count else { return nil }
        // memchr finds candidates for the first byte, memcmp checks them (Glibc's memmem is
        // a GNU extension Swift does not import).
        return haystack.withUnsafeBytes { h in
            needle.withUnsafeBytes { n in
                let first = Int32(n[0]), last = h.count - n.count
                var at = start
                while at <= last {
                    guard let hit = memchr(h.baseAddress! + at, first, last - at + 1) else { return nil }
                    at = h.baseAddress!.distance(to: UnsafeRawPointer(hit))
                    if memcmp(h.baseAddress! + at, n.baseAddress!, n.count) == 0 { return at }
                    at += 1
                }
                return nil
            }
        }
    }

    /// Non-overlapping occurrences.
    static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> Int {
        var count = 0
        var at = 0
        while let i = find(needle, in: haystack, from: at) {
            count += 1
            at = i + needle.count
        }
        return count
    }
}

enum FileSystem {
    /// The size of a regular file (following links), nil when there is none.
    static func regularFileSize(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Writes `bytes`, creating parent folders.
    static func write(_ bytes: [UInt8], to path: String) -> Bool {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty {
            do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch { return false }
        }
        return FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }
}
