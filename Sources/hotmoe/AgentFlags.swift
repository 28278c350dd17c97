import AgentTools
import ArgumentParser
import Foundation
import HotCache
import HotMoEServer
import Logging

/// llama-server's agent flags on `serve`: --tools (built-in tools at /tools), --ui-mcp-proxy
/// (/cors-proxy), --agent (both), and --media-path. Tools and the proxy act for whoever can
/// reach the server, so with tools on the allowed browser origins default to localhost.
struct AgentFlags: ParsableArguments {
    @Option(name: .customLong("tools"), help: "Built-in agent tools served at /tools: a comma list of \(AgentToolbox.builtIn.map(\.name).joined(separator: ", ")), or all. They read, write and run commands as this process: do not enable on an untrusted network (LLAMA_ARG_TOOLS).")
    var tools: String?
    @Flag(name: [.customLong("ui-mcp-proxy"), .customLong("webui-mcp-proxy")], help: "Serve /cors-proxy?url=..., which lets browser pages reach other servers (MCP) through this one; do not enable on an untrusted network (LLAMA_ARG_UI_MCP_PROXY).")
    var mcpProxy = false
    @Flag(name: [.customLong("no-ui-mcp-proxy"), .customLong("no-webui-mcp-proxy")], help: "No /cors-proxy (the default; wins over --ui-mcp-proxy).")
    var noMCPProxy = false
    @Flag(name: [.customLong("agent"), .customLong("ag", withSingleDash: true)], help: "All built-in tools and the CORS proxy (LLAMA_ARG_AGENT).")
    var agent = false
    @Flag(name: [.customLong("no-agent"), .customLong("no-ag", withSingleDash: true)], help: "No tools and no CORS proxy (wins over the flags that turn them on).")
    var noAgent = false
    @Option(name: .customLong("media-path"), help: "Folder for file:// media in chat messages. hotmoe serves text-only models, so image and audio parts are refused with a 400 either way.")
    var mediaPath: String?

    private static func on(_ value: String?) -> Bool { ["1", "true", "on", "enabled"].contains(value?.lowercased() ?? "") }

    /// Sets the tools, the proxy and the CORS default on `o`. `corsExplicit`: --cors-origins was given.
    func apply(to o: inout ServerOptions, source: SettingsSource, corsExplicit: Bool, logger: Logger) throws {
        let agentOn = (agent || Self.on(source.value("agent", env: ["LLAMA_ARG_AGENT"]))) && !noAgent
        var names = (tools ?? source.value("tools", env: ["LLAMA_ARG_TOOLS"]) ?? "").commaListItems
        if agentOn { names = ["all"] }
        if noAgent { names = [] }
        let toolbox: AgentToolbox
        do { toolbox = try AgentToolbox(enabling: names) } catch let e as ToolArgumentError { throw CLIError(e.description) }
        let narrowed = o.enableTools(toolbox, originsExplicit: corsExplicit)
        o.corsProxy = (mcpProxy || agentOn || Self.on(source.value("ui-mcp-proxy", env: ["LLAMA_ARG_UI_MCP_PROXY"]))) && !noMCPProxy && !noAgent
        if !o.tools.isEmpty {
            logger.warning("built-in tools enabled (\(o.tools.tools.map(\.name).joined(separator: ", "))): POST /tools reads, writes and runs commands as this process")
            if narrowed { logger.warning("built-in tools are on: browser origins limited to localhost (change with --cors-origins)") }
        }
        if o.corsProxy { logger.warning("CORS proxy enabled: /cors-proxy makes requests to any URL a caller names") }
        if let mediaPath {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: mediaPath, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError("--media-path \(mediaPath): not a directory")
            }
            logger.warning("--media-path \(mediaPath): hotmoe serves text-only models (no --mmproj), so messages with image or audio parts are answered 400")
        }
    }
}
