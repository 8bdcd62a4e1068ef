/// The fixed colours shared by every chart: a qualitative palette of 12 well-separated colours, a neutral grey for
/// items without a category, and the light backgrounds that idle time is drawn in.
public enum Palette {
    /// Twelve qualitative colours (the Tableau 10 set without its grey, plus three darker hues), as `#rrggbb`.
    public static let qualitative: [String] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
        "#e377c2", "#17becf", "#bcbd22", "#393b79", "#e7ba52", "#ad494a",
    ]

    /// The colour of items that have no category (for example spans without a batch).
    public static let neutral = "#a0a0a0"

    /// Lane backgrounds, alternating; idle time shows through in these colours.
    public static let laneBackgrounds = ["#f5f5f5", "#ececec"]

    /// Grid lines.
    public static let grid = "#d0d0d0"
    /// Axis lines and tick marks.
    public static let axis = "#444444"

    /// The palette colour for `index`, cycling through ``qualitative``; negative indices wrap as well.
    public static func color(forIndex index: Int) -> String {
        let count = qualitative.count
        return qualitative[((index % count) + count) % count]
    }

    /// The colour of a span of `batch`, or ``neutral`` when it has none.
    public static func color(forBatch batch: Int?) -> String {
        batch.map(color(forIndex:)) ?? neutral
    }
}
