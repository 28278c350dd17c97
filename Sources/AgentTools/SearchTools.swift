import Foundation

/// file_glob_search: files (or folders) under a folder whose path matches a glob.
public struct FileGlobSearchTool: AgentTool {
    public static let maxResults = 100
    public let name = "file_glob_search"
    public let displayName = "File search"
    public let writes = false
    public let description = "Find files under a folder by glob. Inside a git repository the files .gitignore excludes are skipped; elsewhere build, dependency and VCS folders (.git, node_modules, build, dist, ...) are not entered. A pattern without '/' (\"*.swift\") matches file names at any depth; one with '/' matches the path relative to the folder, at any depth unless it starts with \"**/\" or '/'. type \"dir\" or \"all\" lists folders too (shown with a trailing '/', not filtered by .gitignore)."
    public let parameters = [
        ToolParameter("path", "string", "Folder to search", required: true),
        ToolParameter("include", "string", "Glob of the paths to list (default **)"),
        ToolParameter("exclude", "string", "Glob of the paths to leave out"),
        ToolParameter("type", "string", "\"file\" (default), \"dir\" or \"all\""),
        ToolParameter("max_depth", "integer", "Folder levels to descend (default 0: no limit; 1: the folder's own entries)"),
        ToolParameter("limit", "integer", "Results to return (default and maximum \(maxResults))"),
    ]
    public init() {}

    public func invoke(_ a: ToolArguments, in workspace: ToolWorkspace, output: ((String) -> Bool)?) throws -> [String: Any] {
        let path = try a.requiredString("path")
        let base = workspace.resolve(path)
        let include = try a.string("include") ?? "**"
        let exclude = try a.string("exclude") ?? ""
        let type = try a.string("type") ?? "file"
        let maxDepth = max(0, try a.int("max_depth") ?? 0)
        let asked = try a.int("limit") ?? Self.maxResults
        guard asked >= 1 else { return ["error": "invalid limit: \(asked) (expected 1 or more)"] }
        let limit = min(asked, Self.maxResults)
        guard let kind = DirectoryListing.Kind(rawValue: type) else {
            return ["error": "invalid type: \(type) (expected \"file\", \"dir\" or \"all\")"]
        }
        let listing = DirectoryListing.list(base, maxDepth: maxDepth, kind: kind)
        if let error = listing.error { return ["error": "\(error): \(path)"] }
        let matches = listing.entries.filter { Glob.selects($0.path, include: include, exclude: exclude) }
        let shown = matches.prefix(limit)
        var text = shown.map { $0.path + ($0.isDirectory ? "/" : "") + "\n" }.joined()
        text += "\n---\nTotal matches: \(matches.count)\n"
        if matches.count > shown.count {
            text += "[\(shown.count) results limit reached (\(matches.count) total matches). Refine the glob pattern to narrow the search.]\n"
        }
        if listing.truncated { text += "[results truncated: time budget or unreadable directory]\n" }
        // `entries` and the absolute `base` serve a file picker; the model reads the text.
        return ["plain_text_response": text, "base": base,
                "entries": shown.map { ["path": $0.path, "type": $0.isDirectory ? "dir" : "file"] }]
    }
}

/// grep_search: lines matching a regular expression (or a literal), in one file or a tree.
public struct GrepSearchTool: AgentTool {
    public static let maxResults = 100
    public let name = "grep_search"
    public let displayName = "Grep search"
    public let writes = false
    public let description = "Search files for a regular expression (or, with literal, plain text) and return the matching lines as path:line, paths relative to the folder searched. Skips what .gitignore excludes inside a git repository, and build, dependency and VCS folders elsewhere. include/exclude are globs: without '/' they match file names, with '/' relative paths."
    public let parameters = [
        ToolParameter("path", "string", "File or folder to search", required: true),
        ToolParameter("pattern", "string", "Regular expression, or text when literal is true", required: true),
        ToolParameter("include", "string", "Glob of the files to search (default **)"),
        ToolParameter("exclude", "string", "Glob of the files to skip"),
        ToolParameter("return_line_numbers", "boolean", "Show line numbers"),
        ToolParameter("literal", "boolean", "Match the pattern as plain text (default false)"),
        ToolParameter("ignore_case", "boolean", "Ignore case (default false)"),
        ToolParameter("context_lines", "integer", "Lines shown before and after each match (default 0)"),
    ]
    public init() {}

    public func invoke(_ a: ToolArguments, in workspace: ToolWorkspace, output: ((String) -> Bool)?) throws -> [String: Any] {
        let path = try a.requiredString("path")
        let pattern = try a.requiredString("pattern")
        let include = try a.string("include") ?? "**"
        let exclude = try a.string("exclude") ?? ""
        let context = max(0, try a.int("context_lines") ?? 0)
        let numbered = try a.bool("return_line_numbers") ?? false || context > 0
        let literal = try a.bool("literal") ?? false
        let regex: NSRegularExpression
        do {
            regex = try NSRegularExpression(pattern: literal ? NSRegularExpression.escapedPattern(for: pattern) : pattern,
                                            options: try a.bool("ignore_case") == true ? [.caseInsensitive] : [])
        } catch {
            return ["error": "invalid regex: \(pattern)"]
        }
        let full = workspace.resolve(path)
        var files: [(full: String, shown: String)] = []
        if FileSystem.regularFileSize(full) != nil {
            files = [(full, path)]
        } else if FileSystem.isDirectory(full) {
            let listing = DirectoryListing.list(full, maxDepth: 0, kind: .file)
            if let error = listing.error { return ["error": "\(error): \(path)"] }
            files = listing.entries.filter { Glob.selects($0.path, include: include, exclude: exclude) }
                .map { (full + "/" + $0.path, $0.path) }
        } else {
            return ["error": "path does not exist: \(path)"]
        }
        var text = ""
        var total = 0
        var limitReached = false
        files: for file in files {
            guard let data = FileManager.default.contents(atPath: file.full) else { continue }
            let lines = Lines.split(Array(data)).map { String(decoding: $0, as: UTF8.self) }
            for (i, line) in lines.enumerated() {
                if total >= Self.maxResults { limitReached = true; break files }
                guard regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil else { continue }
                for j in max(0, i - context)...min(lines.count - 1, i + context) {
                    let mark = j == i ? ":" : "-"
                    text += file.shown + mark + (numbered ? "\(j + 1)" + mark : "") + lines[j] + "\n"
                }
                if context > 0 { text += "--\n" }
                total += 1
            }
        }
        text += "\n---\nTotal matches: \(total)\n"
        if limitReached { text += "[\(Self.maxResults) matches limit reached. Narrow the path/pattern/include to see more.]\n" }
        return ["plain_text_response": text]
    }
}

/// Globs as the search tools read them: `*` and `?` stay within one path part, `**` crosses
/// parts (and `**/` also matches no folder at all), `[a-z]` and `[!a-z]` are classes.
public enum Glob {
    /// A pattern without '/' matches the last path part; one with '/' the whole relative path,
    /// at any depth unless anchored by a leading `**/` or '/'.
    public static func matchesPath(_ pattern: String, _ path: String) -> Bool {
        if !pattern.contains("/") { return matches(pattern, path.split(separator: "/").last.map(String.init) ?? path) }
        if pattern == "**" || pattern.hasPrefix("**/") || pattern.hasPrefix("/") { return matches(pattern, path) }
        return matches("**/" + pattern, path)
    }

    /// Matched by `include` and not by `exclude` (an empty exclude leaves nothing out).
    public static func selects(_ path: String, include: String, exclude: String) -> Bool {
        matchesPath(include, path) && (exclude.isEmpty || !matchesPath(exclude, path))
    }

    public static func matches(_ pattern: String, _ text: String) -> Bool {
        match(Array(pattern.utf8)[...], Array(text.utf8)[...])
    }

    private static let slash = UInt8(ascii: "/")

    private static func match(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        guard let c = p.first else { return s.isEmpty }
        if c == UInt8(ascii: "*"), p.dropFirst().first == UInt8(ascii: "*") {
            let rest = p.dropFirst(2)
            if rest.first == slash && match(rest.dropFirst(), s) { return true }
            var t = s
            while true {
                if match(rest, t) { return true }
                guard !t.isEmpty else { return false }
                t = t.dropFirst()
            }
        }
        if c == UInt8(ascii: "*") {
            let rest = p.dropFirst()
            var t = s
            while true {
                if match(rest, t) { return true }
                guard let first = t.first, first != slash else { return false }
                t = t.dropFirst()
            }
        }
        if c == UInt8(ascii: "?") {
            guard let first = s.first, first != slash else { return false }
            return match(p.dropFirst(), s.dropFirst())
        }
        if c == UInt8(ascii: "["), let (set, rest) = characterClass(p) {
            guard let first = s.first, set(first) else { return false }
            return match(rest, s.dropFirst())
        }
        guard s.first == c else { return false }
        return match(p.dropFirst(), s.dropFirst())
    }

    /// `[...]` at the start of `p`: the test and what follows it; nil when there is no closing
    /// bracket (the `[` is then literal). A `]` or `-` first in the class is literal.
    private static func characterClass(_ p: ArraySlice<UInt8>) -> ((UInt8) -> Bool, ArraySlice<UInt8>)? {
        var i = p.startIndex + 1
        let negated = i < p.endIndex && p[i] == UInt8(ascii: "!")
        if negated { i += 1 }
        let start = i
        if i < p.endIndex && (p[i] == UInt8(ascii: "]") || p[i] == UInt8(ascii: "-")) { i += 1 }
        while i < p.endIndex && p[i] != UInt8(ascii: "]") { i += 1 }
        guard i < p.endIndex else { return nil }
        let members = Array(p[start..<i])
        let test = { (b: UInt8) -> Bool in
            var j = 0
            var hit = false
            while j < members.count {
                if j + 2 < members.count, members[j + 1] == UInt8(ascii: "-") {
                    if b >= members[j] && b <= members[j + 2] { hit = true; break }
                    j += 3
                } else {
                    if members[j] == b { hit = true; break }
                    j += 1
                }
            }
            return hit != negated
        }
        return (test, p[(i + 1)...])
    }
}

/// The entries under a folder, relative to it with '/' separators: git's view of the files
/// inside a repository (tracked and untracked, .gitignore applied), else a walk that lists
/// but never enters VCS, dependency and build folders, and never follows a linked folder.
public enum DirectoryListing {
    public enum Kind: String { case file, dir, all }

    public struct Entry: Equatable, Sendable {
        public let path: String
        public let isDirectory: Bool
    }

    public struct Result {
        public var entries: [Entry] = []
        public var error: String?
        /// The walk ran out of time or met a folder it could not read.
        public var truncated = false
    }

    static let unwalkedFolders: Set<String> = [".git", ".svn", ".hg", "node_modules", "__pycache__", ".venv", "venv",
                                               "dist", "build", "target", ".cache", ".idea", ".vscode"]
    static let timeBudget = Duration.seconds(15)

    /// `maxDepth` 0: no limit; 1: the folder's own entries.
    public static func list(_ base: String, maxDepth: Int, kind: Kind) -> Result {
        guard FileSystem.isDirectory(base) else { return Result(error: "path does not exist or is not a directory") }
        if kind == .file, let files = gitFiles(base, maxDepth: maxDepth) { return Result(entries: files) }
        return walk(base, maxDepth: maxDepth, kind: kind)
    }

    private static func gitFiles(_ base: String, maxDepth: Int) -> [Entry]? {
        let run = Subprocess.run(["/bin/sh", "-c", "exec git -C \"$0\" ls-files --cached --others --exclude-standard", base],
                                 maxOutput: 8 << 20, timeoutSeconds: 15)
        guard run.exitCode == 0, !run.timedOut else { return nil }
        return run.output.split(separator: "\n").map(String.init)
            .filter { !$0.isEmpty && (maxDepth == 0 || $0.split(separator: "/").count <= maxDepth) }
            .filter { FileSystem.regularFileSize(base + "/" + $0) != nil }
            .map { Entry(path: $0, isDirectory: false) }
    }

    private static func walk(_ base: String, maxDepth: Int, kind: Kind) -> Result {
        var result = Result()
        let deadline = ContinuousClock.now + timeBudget
        var stack: [(folder: String, relative: String, depth: Int)] = [(base, "", 0)]
        while let (folder, relative, depth) = stack.popLast() {
            guard ContinuousClock.now < deadline else { result.truncated = true; break }
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { result.truncated = true; continue }
            var below: [(String, String, Int)] = []
            for name in names.sorted() {
                let full = folder + "/" + name
                let path = relative.isEmpty ? name : relative + "/" + name
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                let isLink = (st.st_mode & S_IFMT) == S_IFLNK
                if isLink { guard stat(full, &st) == 0 else { continue } }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    if kind != .file { result.entries.append(Entry(path: path, isDirectory: true)) }
                    if !isLink, !unwalkedFolders.contains(name), maxDepth == 0 || depth + 1 < maxDepth {
                        below.append((full, path, depth + 1))
                    }
                case S_IFREG:
                    if kind != .dir { result.entries.append(Entry(path: path, isDirectory: false)) }
                default: break
                }
            }
            // Reversed onto the stack so folders are entered in name order.
            stack += below.reversed()
        }
        return result
    }
}
