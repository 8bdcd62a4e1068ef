import Engine

extension InferenceEngine {
    /// An engine whose `options.pipelineStages` ranks all run as threads of this process, connected by an
    /// in-process fabric.
    public static func inProcess(model: any PipelineModel, options: EngineOptions = EngineOptions()) throws -> InferenceEngine {
        guard options.pipelineStages > 1 else { return try InferenceEngine(model: model, options: options) }
        let fabric = InProcessFabric(size: options.pipelineStages)
        let communicators = (0..<options.pipelineStages).map { fabric.communicator(rank: $0) as any Communicator }
        return try InferenceEngine(model: model, options: options, communicators: communicators)
    }
}
