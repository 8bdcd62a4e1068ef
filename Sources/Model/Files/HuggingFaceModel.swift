import Foundation
import Kernels

/// A Hugging Face checkpoint directory: `config.json`, `model.safetensors` (or shards listed in
/// `model.safetensors.index.json`), `tokenizer.json` and `tokenizer_config.json`.
public struct HuggingFaceModel: Sendable {
    public let directory: String
    public let config: ModelConfig
    public let store: TensorStore
    /// `tokenizer_config.json`'s fields that an engine needs (chat template, special tokens), if the file exists.
    public let chatTemplate: String?
    public let bosToken: String?
    public let eosToken: String?

    public init(directory: String) throws(ModelFileError) {
        self.directory = directory
        let configPath = directory + "/config.json"
        let json = try Self.readJSONObject(configPath)
        var config = try Self.modelConfig(json, file: configPath)

        let indexPath = directory + "/model.safetensors.index.json"
        var files: [String]
        if FileManager.default.fileExists(atPath: indexPath) {
            let index = try Self.readJSONObject(indexPath)
            guard let weightMap = index["weight_map"] as? [String: String] else {
                throw ModelFileError(file: indexPath, problem: "missing \"weight_map\" object")
            }
            files = Array(Set(weightMap.values)).sorted()
            for file in files where file.contains("/") || file.hasPrefix(".") {
                throw ModelFileError(file: indexPath, problem: "shard name \"\(file)\" must be a plain file name in the same directory")
            }
        } else {
            files = ["model.safetensors"]
        }
        var stored: [String: StoredTensor] = [:]
        var owners: [AnyObject & Sendable] = []
        for file in files {
            let safetensors = try SafetensorsFile(path: directory + "/" + file)
            owners.append(safetensors)
            for (name, info) in safetensors.tensors {
                guard let canonical = Self.canonicalName(name) else { continue }
                let columns = info.shape.last ?? 1
                let rows = columns == 0 ? 0 : info.shape.reduce(1, *) / columns
                let matrix = WeightMatrix(type: info.type, rows: rows, columns: columns, base: safetensors.base + info.fileOffset)
                stored[canonical] = StoredTensor(name: canonical, matrix: matrix)
            }
        }
        config.tiedEmbeddings = config.tiedEmbeddings || stored["output.weight"] == nil
        config.hasQKVBias = stored["blk.0.attn_q.bias"] != nil
        self.config = config
        store = TensorStore(source: directory, tensors: stored, owners: owners)

        let tokenizerConfigPath = directory + "/tokenizer_config.json"
        if FileManager.default.fileExists(atPath: tokenizerConfigPath) {
            let tokenizerConfig = try Self.readJSONObject(tokenizerConfigPath)
            chatTemplate = tokenizerConfig["chat_template"] as? String
            bosToken = Self.tokenString(tokenizerConfig["bos_token"])
            eosToken = Self.tokenString(tokenizerConfig["eos_token"])
        } else {
            chatTemplate = nil
            bosToken = nil
            eosToken = nil
        }
    }

    static func tokenString(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        if let d = value as? [String: Any] { return d["content"] as? String }
        return nil
    }

    static func readJSONObject(_ path: String) throws(ModelFileError) -> [String: Any] {
        guard let data = MappedFile.regularFileContents(path) else {
            throw ModelFileError(file: path, problem: "cannot read file (missing, unreadable or not a regular file)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelFileError(file: path, problem: "not a JSON object")
        }
        return object
    }

    /// Maps a Hugging Face Llama/Qwen2 tensor name to Brigade's canonical (GGUF) name; nil for tensors Brigade ignores.
    static func canonicalName(_ name: String) -> String? {
        let fixed = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                     "lm_head.weight": "output.weight"]
        if let canonical = fixed[name] { return canonical }
        let parts = name.split(separator: ".")
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let rest = parts[3...].joined(separator: ".")
        let perLayer = [
            "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
            "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
            "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
            "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
            "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
            "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
        ]
        return perLayer[rest].map { "blk.\(layer).\($0)" }
    }

    static func modelConfig(_ json: [String: Any], file: String) throws(ModelFileError) -> ModelConfig {
        func int(_ key: String) throws(ModelFileError) -> Int {
            guard let value = json[key] as? Int else {
                throw ModelFileError(file: file, location: "key \(key)", problem: "missing or not an integer")
            }
            return value
        }
        let architectures = json["architectures"] as? [String] ?? []
        let known: [String: Architecture] = ["LlamaForCausalLM": .llama, "MistralForCausalLM": .mistral,
                                             "Qwen2ForCausalLM": .qwen2, "Qwen3ForCausalLM": .qwen3]
        guard let name = architectures.first(where: { known[$0] != nil }), let architecture = known[name] else {
            throw ModelFileError(file: file, location: "key architectures",
                                 problem: "\(architectures) is not supported (Brigade reads \(known.keys.sorted().joined(separator: ", ")) checkpoints)")
        }
        let hidden = try int("hidden_size")
        let heads = try int("num_attention_heads")
        let headDim = json["head_dim"] as? Int ?? (heads > 0 ? hidden / heads : 0)
        let theta = (json["rope_theta"] as? Double) ?? Double(json["rope_theta"] as? Int ?? 10000)
        // Checked here, before the RoPE divisors are derived from it (validate() checks everything else).
        guard headDim >= 2, headDim % 2 == 0, headDim <= 1024 else {
            throw ModelFileError(file: file, location: "key head_dim", problem: "head dimension \(headDim) must be even and in 2...1024")
        }
        var config = ModelConfig(
            architecture: architecture,
            layerCount: try int("num_hidden_layers"),
            hiddenSize: hidden,
            intermediateSize: try int("intermediate_size"),
            headCount: heads,
            kvHeadCount: json["num_key_value_heads"] as? Int ?? heads,
            headDim: headDim,
            vocabSize: try int("vocab_size"),
            contextLength: json["max_position_embeddings"] as? Int ?? 2048,
            rmsNormEps: Float((json["rms_norm_eps"] as? Double) ?? 1e-6),
            rope: RoPE(theta: theta, pairing: .halves,
                       frequencyDivisors: try ropeScaling(json["rope_scaling"], headDim: headDim, theta: theta, file: file)),
            tiedEmbeddings: json["tie_word_embeddings"] as? Bool ?? false,
            hasQKVBias: false,
            hasQKNorm: architecture == .qwen3
        )
        try config.validate(file: file)
        return config
    }

    /// The RoPE frequency divisors of HF `rope_scaling` (types `llama3` and `linear`; nil or null: none).
    static func ropeScaling(_ value: Any?, headDim: Int, theta: Double, file: String) throws(ModelFileError) -> [Double]? {
        guard let value, !(value is NSNull) else { return nil }
        guard let scaling = value as? [String: Any] else {
            throw ModelFileError(file: file, location: "key rope_scaling", problem: "expected an object, found \(value)")
        }
        func number(_ key: String) throws(ModelFileError) -> Double {
            if let double = scaling[key] as? Double { return double }
            if let int = scaling[key] as? Int { return Double(int) }
            throw ModelFileError(file: file, location: "key rope_scaling.\(key)", problem: "missing or not a number")
        }
        let type = scaling["rope_type"] as? String ?? scaling["type"] as? String ?? "?"
        switch type {
        case "default": return nil
        case "linear": return Array(repeating: try number("factor"), count: headDim / 2)
        case "llama3":
            return RoPE.llama3Divisors(headDim: headDim, theta: theta, factor: try number("factor"),
                                       lowFrequencyFactor: try number("low_freq_factor"),
                                       highFrequencyFactor: try number("high_freq_factor"),
                                       originalContext: try number("original_max_position_embeddings"))
        default:
            throw ModelFileError(file: file, location: "key rope_scaling",
                                 problem: "RoPE scaling type \"\(type)\" is not supported (Brigade reads llama3 and linear)")
        }
    }
}
