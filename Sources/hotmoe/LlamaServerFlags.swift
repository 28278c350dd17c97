import Foundation

/// llama-server's command line on `hotmoe serve`: every llama-server flag either works (it is
/// hotmoe's own, or renamed to it), is accepted with one log line saying why it does not
/// apply here, or is refused with one line saying why. Flags outside the table go to hotmoe's
/// own parser, which rejects typos.
enum LlamaServerFlags {
    enum Disposition: Equatable {
        /// Becomes this hotmoe flag.
        case rename(String)
        /// Accepted; the reason is logged.
        case notApplicable(String)
        /// A GPU placement flag: accepted; the log says what the GPU probe found and what the
        /// flag does in this build.
        case gpu(String)
        /// Refused, unless its value is `neutral` (the value that means "off").
        case unsupported(String, neutral: [String] = [])
    }

    struct Flag {
        let names: [String]
        /// Values the flag takes (0: a switch).
        let values: Int
        let disposition: Disposition
    }

    /// names | values | disposition (`=flag`, `n/a reason`, `no reason`, `no[v1,v2] reason`).
    private static let spec = #"""
    --predict | 1 | =--n-predict
    -a | 1 | =--alias
    -cmoe | 0 | =--cpu-moe
    --temperature | 1 | =--temp
    -nr | 0 | =--no-repack
    --no-webui | 0 | =--no-ui
    --usage | 0 | =--help
    -ngl | 1 | =--n-gpu-layers
    -dev | 1 | =--device
    -sm --split-mode -ts --tensor-split -mg --main-gpu -fitt --fit-target -fitc --fit-ctx -fit --fit | 1 | n/a no GPU backend in this build
    -kvo --kv-offload -nkvo --no-kv-offload --op-offload --no-op-offload --no-host | 0 | n/a no GPU backend in this build: the KV cache and all ops stay on the CPU
    -ot --override-tensor --rpc | 1 | n/a no GPU or RPC backend in this build: every tensor stays on the CPU
    -ncmoe | 1 | =--n-cpu-moe
    -ncffn --n-cpu-ffn | 1 | gpu dense FFN layers stay on the CPU in this build
    -tb --threads-batch | 1 | n/a prompt batches use the --threads workers
    -C --cpu-mask -Cr --cpu-range --cpu-strict --prio --poll -Cb --cpu-mask-batch -Crb --cpu-range-batch --cpu-strict-batch --prio-batch --poll-batch | 1 | n/a hotmoe does not pin threads or change their priority
    -ub --ubatch-size | 1 | n/a prompt batches of --batch-size run as one batch
    -fa --flash-attn | 1 | n/a the CPU attention is exact softmax attention (no flash-attention variant to switch)
    --mlock --no-mmap --mmap | 0 | n/a hotmoe maps the file and keeps experts resident or streams them as memory allows
    -lm --load-mode -lzm --lazy-mode --numa -dt --defrag-thold | 1 | n/a hotmoe's loader has no such mode
    --perf | 0 | n/a timings are always reported
    -e --escape --no-escape --warmup --no-warmup | 0 | n/a no command-line prompt on the server
    -cb --cont-batching -nocb --no-cont-batching | 0 | n/a slots (--parallel) decode concurrently; there is no cross-slot batch to switch
    --cache-prompt | 0 | n/a prompt prefix reuse is always on
    -to --timeout --threads-http --sse-ping-interval | 1 | n/a the HTTP server's own defaults apply
    --reuse-port | 0 | n/a the HTTP server's own defaults apply
    --log-disable --log-prefix --no-log-prefix --log-timestamps --no-log-timestamps --log-jsonl --no-log-jsonl | 0 | n/a logs go to stderr (swift-log, info level)
    --log-file --log-colors -lv --verbosity --log-verbosity | 1 | n/a logs go to stderr (swift-log, info level)
    --log-verbose | 0 | =--verbose
    --offline | 0 | n/a hotmoe never downloads
    --ui --webui | 0 | n/a the web UI is always served at /
    -kvu --kv-unified -no-kvu --no-kv-unified --cache-idle-slots --no-cache-idle-slots | 0 | n/a each slot has its own KV cache
    --cache-ram -ctxcp --ctx-checkpoints --swa-checkpoints -cms --checkpoint-min-step --kv-unified-per-slot -sps --slot-prompt-similarity --keep --cache-reuse | 1 | n/a each slot reuses its own longest prompt prefix
    -bs --backend-sampling --backend_sampling --skip-chat-parsing --no-skip-chat-parsing | 0 | n/a hotmoe samples on the CPU and returns the text as generated
    --no-mmproj --no-mmproj-auto --mmproj-offload --no-mmproj-offload --no-models-autoload --no-reasoning-preserve | 0 | n/a the feature it switches off does not exist in hotmoe
    --repack | 0 | n/a repacking is on by default (--no-repack turns it off)
    --rope-scaling --rope-scale --rope-freq-base --rope-freq-scale --yarn-orig-ctx --yarn-ext-factor --yarn-attn-factor --yarn-beta-slow --yarn-beta-fast | 1 | no RoPE overrides are not supported: the file's RoPE settings are used
    --override-kv --lora --lora-scaled --control-vector --control-vector-scaled | 1 | no adapters and metadata overrides are not supported
    --control-vector-layer-range | 2 | no adapters and metadata overrides are not supported
    --lora-init-without-apply | 0 | no adapters and metadata overrides are not supported
    -mu --model-url -dr --docker-repo -hf -hfr --hf-repo -hff --hf-file -hft --hf-token | 1 | no hotmoe does not download models: pass -m FILE
    --samplers --sampler-seq --sampling-seq | 1 | no the sampler chain is fixed (top-k, top-p, min-p, temperature)
    --top-nsigma --top-n-sigma | 1 | no[-1,-1.0] top-n-sigma sampling is not implemented
    --xtc-probability | 1 | no[0,0.0] XTC sampling is not implemented
    --xtc-threshold | 1 | no[0.1] XTC sampling is not implemented
    --typical --typical-p | 1 | no[1,1.0] typical sampling is not implemented
    --dry-multiplier | 1 | no[0,0.0] DRY sampling is not implemented
    --dry-base | 1 | no[1.75] DRY sampling is not implemented
    --dry-allowed-length | 1 | no[2] DRY sampling is not implemented
    --dry-penalty-last-n | 1 | no[-1] DRY sampling is not implemented
    --dry-sequence-breaker --adaptive-target --adaptive-decay | 1 | no this sampler is not implemented
    --dynatemp-range | 1 | no[0,0.0] dynamic temperature is not implemented
    --dynatemp-exp | 1 | no[1,1.0] dynamic temperature is not implemented
    --mirostat | 1 | no[0] mirostat is not implemented
    --mirostat-lr | 1 | no[0.1] mirostat is not implemented
    --mirostat-ent | 1 | no[5,5.0] mirostat is not implemented
    -l --logit-bias --grammar --grammar-file -j --json-schema -jf --json-schema-file | 1 | no server-wide logit bias and grammars are not supported: send "logit_bias", "grammar" or "json_schema" per request
    -lcs --lookup-cache-static -lcd --lookup-cache-dynamic | 1 | no lookup decoding is not supported
    --embd-normalize | 1 | no[2] only Euclidean normalisation is supported (per request: "embd_normalize": -1 turns it off)
    --rerank --reranking | 0 | no reranking is not implemented
    -mm --mmproj -mmu --mmproj-url -mmdev --mmproj-device --image-min-tokens --image-max-tokens --mtmd-batch-max-tokens --video-fps --video-timestamp-interval --video-ffmpeg-dir | 1 | no multimodal input is not supported
    --mmproj-auto | 0 | no multimodal input is not supported
    --path --api-prefix | 1 | no not supported: routes are served at their standard paths
    --cors-methods --cors-headers | 1 | no only the allowed origins can be set (--cors-origins)
    --cors-credentials --no-cors-credentials | 0 | no only the allowed origins can be set (--cors-origins)
    --ui-config --webui-config --ui-config-file --webui-config-file | 1 | no the web UI has no custom configuration
    --tools-runtime --mcp-servers-config --mcp-servers-json | 1 | no tool runtimes and MCP servers are not supported: --tools run on this host
    --ssl-key-file --ssl-cert-file | 1 | no TLS is not supported: put a TLS-terminating proxy in front
    --models-dir --models-preset --models-max --sleep-idle-seconds --log-prompts-dir | 1 | no not supported by hotmoe serve
    --props --no-cache-prompt -sp --special --spm-infill --models-autoload --reasoning-preserve | 0 | no not supported by hotmoe serve
    -r --reverse-prompt | 1 | no the server takes stop strings per request ("stop")
    -rea | 1 | =--reasoning
    --reasoning-effort --reasoning-budget-message | 1 | no reasoning effort levels and budgets are not implemented
    --reasoning-budget | 1 | no[-1] reasoning budgets are not implemented
    -cl --cache-list --completion-bash --version | 0 | no not a server option in hotmoe (see `hotmoe --help`)
    --embd-gemma-default --fim-qwen-1.5b-default --fim-qwen-3b-default --fim-qwen-7b-default --fim-qwen-7b-spec --fim-qwen-14b-spec --fim-qwen-30b-default --gpt-oss-20b-default --gpt-oss-120b-default --vision-gemma-4b-default --vision-gemma-12b-default --spec-default | 0 | no presets download models: pass -m FILE
    -ctkd --cache-type-k-draft -ctvd --cache-type-v-draft --spec-draft-type-k --spec-draft-type-v -md --model-draft --spec-draft-model -td --threads-draft -tbd --threads-batch-draft -Cd --cpu-mask-draft -Crd --cpu-range-draft --cpu-strict-draft --prio-draft --poll-draft -Cbd --cpu-mask-batch-draft --cpu-strict-batch-draft --prio-batch-draft --poll-batch-draft -otd --override-tensor-draft -ncmoed --n-cpu-moe-draft -devd --device-draft -ngld --gpu-layers-draft --n-gpu-layers-draft --draft --draft-n --draft-max --draft-min --draft-n-min --draft-p-split --draft-p-min --spec-type -hfd -hfrd --hf-repo-draft | 1 | no speculative decoding is not supported
    -cmoed --cpu-moe-draft | 0 | no speculative decoding is not supported
    """#

    static let table: [Flag] = spec.split(separator: "\n").map { line in
        let parts = line.split(separator: "|", maxSplits: 2).map { $0.trimmingCharacters(in: .whitespaces) }
        let names = parts[0].split(separator: " ").map(String.init)
        let rest = parts[2]
        let disposition: Disposition
        if rest.hasPrefix("=") {
            disposition = .rename(String(rest.dropFirst()))
        } else if rest.hasPrefix("gpu ") {
            disposition = .gpu(String(rest.dropFirst(4)))
        } else if rest.hasPrefix("n/a ") {
            disposition = .notApplicable(String(rest.dropFirst(4)))
        } else {
            var why = rest.dropFirst(2)
            var neutral: [String] = []
            if why.hasPrefix("["), let close = why.firstIndex(of: "]") {
                neutral = why[why.index(after: why.startIndex)..<close].split(separator: ",").map(String.init)
                why = why[why.index(after: close)...]
            }
            disposition = .unsupported(why.trimmingCharacters(in: .whitespaces), neutral: neutral)
        }
        return Flag(names: names, values: Int(parts[1])!, disposition: disposition)
    }

    private static let byName: [String: Flag] = {
        var m = [String: Flag]()
        for f in table { for n in f.names { m[n] = f } }
        return m
    }()

    struct Refused: Error, CustomStringConvertible { let description: String }

    /// `serve`'s arguments with llama-server's flags mapped: renamed, dropped with a note, or
    /// refused. `--flag=value` works as `--flag value`.
    static func rewrite(_ args: [String], note: (String) -> Void) throws -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            let (name, inline) = arg.firstIndex(of: "=").map { (String(arg[..<$0]), String(arg[arg.index(after: $0)...])) } ?? (arg, nil)
            guard arg.hasPrefix("-"), let flag = byName[name] else { out.append(arg); i += 1; continue }
            var values: [String] = inline.map { [$0] } ?? []
            while values.count < flag.values {
                i += 1
                guard i < args.count else { throw Refused(description: "\(name) needs a value") }
                values.append(args[i])
            }
            i += 1
            switch flag.disposition {
            case .rename(let to):
                out.append(to)
                out += values
            case .notApplicable(let why):
                note("\(([name] + values).joined(separator: " ")): accepted, does not apply: \(why)")
            case .gpu(let why):
                note("\(([name] + values).joined(separator: " ")): accepted, does not apply: \(why); \(GPUProbe.placementLine(device: ["-dev", "--device"].contains(name) ? values.first : nil))")
            case .unsupported(let why, let neutral):
                if !neutral.isEmpty, values.count == 1, neutral.contains(values[0].lowercased()) {
                    note("\(name) \(values[0]): accepted (the neutral value)")
                } else {
                    throw Refused(description: "\(([name] + values).joined(separator: " ")): \(why)")
                }
            }
        }
        return out
    }
}
