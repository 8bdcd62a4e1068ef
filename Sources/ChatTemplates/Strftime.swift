import Foundation

/// C-locale `strftime`, as Python's `datetime.strftime` behaves on Linux (including glibc's `%-d` no-padding flag).
enum Strftime {
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]
    private static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    static func format(_ date: Date, _ format: String, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let year = c.year ?? 1970
        let month = c.month ?? 1
        let day = c.day ?? 1
        let hour = c.hour ?? 0
        let weekday = (c.weekday ?? 1) - 1
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        let hour12 = hour % 12 == 0 ? 12 : hour % 12

        var out = ""
        var scalars = Array(format.unicodeScalars)[...]
        while let s = scalars.popFirst() {
            guard s == "%", let next = scalars.first else {
                out.unicodeScalars.append(s)
                continue
            }
            scalars.removeFirst()
            var directive = next
            var pad = true
            if directive == "-", let d = scalars.popFirst() {
                pad = false
                directive = d
            }
            func number(_ value: Int, _ width: Int) -> String {
                let text = String(value)
                return pad ? String(repeating: "0", count: max(0, width - text.count)) + text : text
            }
            switch directive {
            case "Y": out += String(year)
            case "y": out += number(year % 100, 2)
            case "m": out += number(month, 2)
            case "d": out += number(day, 2)
            case "e": out += pad ? (day < 10 ? " " : "") + String(day) : String(day)
            case "H": out += number(hour, 2)
            case "I": out += number(hour12, 2)
            case "M": out += number(c.minute ?? 0, 2)
            case "S": out += number(c.second ?? 0, 2)
            case "f": out += number((c.nanosecond ?? 0) / 1000, 6)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "j": out += number(dayOfYear, 3)
            case "B": out += months[month - 1]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "A": out += weekdays[weekday]
            case "a": out += String(weekdays[weekday].prefix(3))
            case "w": out += String(weekday)
            case "u": out += String(weekday == 0 ? 7 : weekday)
            case "F": out += "\(year)-\(number(month, 2))-\(number(day, 2))"
            case "D": out += "\(number(month, 2))/\(number(day, 2))/\(number(year % 100, 2))"
            case "T": out += "\(number(hour, 2)):\(number(c.minute ?? 0, 2)):\(number(c.second ?? 0, 2))"
            case "R": out += "\(number(hour, 2)):\(number(c.minute ?? 0, 2))"
            case "%": out += "%"
            default:
                out += "%"
                if !pad { out += "-" }
                out.unicodeScalars.append(directive)
            }
        }
        return out
    }
}
