import Foundation
import Kernels

/// A Hugging Face checkpoint directory: `config.json`, `model.safetensors` (or shards listed in
/// `model.safetensors.index.json`), `tokenizer.json` and `tokenizer_config.json`.
public struct HuggingFaceModel: Sendable {
    public let directory: String
    public let config: LlamaConfig
    public let store: TensorStore
    /// `tokenizer_config.json`'s fields that an engine needs (chat template, special tokens), if the file exists.
    public let chatTemplate: String?
    public let bosToken: String?
    public let eosToken: String?

    public init(directory: String) throws(ModelFileError) {
        self.directory = directory
        let configPath = directory + "/config.json"
        let json = try Self.readJSONObject(configPath)
        var config = try Self.llamaConfig(json, file: configPath)

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
        ]
        return perLayer[rest].map { "blk.\(layer).\($0)" }
    }

    static func llamaConfig(_ json: [String: Any], file: String) throws(ModelFileError) -> LlamaConfig {
        func int(_ key: String) throws(ModelFileError) -> Int {
            guard let value = json[key] as? Int else {
                throw ModelFileError(file: file, location: "key \(key)", problem: "missing or not an integer")
            }
            return value
        }
        let architectures = json["architectures"] as? [String] ?? []
        let known = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"]
        guard let architecture = architectures.first(where: known.contains) else {
            throw ModelFileError(file: file, location: "key architectures",
                                 problem: "\(architectures) is not supported (Brigade runs \(known.joined(separator: ", ")))")
        }
        if let scaling = json["rope_scaling"], !(scaling is NSNull) {
            throw ModelFileError(file: file, location: "key rope_scaling", problem: "RoPE scaling \(scaling) is not supported yet")
        }
        let hidden = try int("hidden_size")
        let heads = try int("num_attention_heads")
        let config = LlamaConfig(
            architecture: architecture == "Qwen2ForCausalLM" ? "qwen2" : "llama",
            layerCount: try int("num_hidden_layers"),
            hiddenSize: hidden,
            intermediateSize: try int("intermediate_size"),
            headCount: heads,
            kvHeadCount: json["num_key_value_heads"] as? Int ?? heads,
            headDim: json["head_dim"] as? Int ?? (heads > 0 ? hidden / heads : 0),
            vocabSize: try int("vocab_size"),
            contextLength: json["max_position_embeddings"] as? Int ?? 2048,
            ropeTheta: (json["rope_theta"] as? Double) ?? Double(json["rope_theta"] as? Int ?? 10000),
            rmsNormEps: Float((json["rms_norm_eps"] as? Double) ?? 1e-6),
            ropePairing: .halves,
            tiedEmbeddings: json["tie_word_embeddings"] as? Bool ?? false,
            hasQKVBias: false
        )
        try config.validate(file: file)
        return config
    }
}
