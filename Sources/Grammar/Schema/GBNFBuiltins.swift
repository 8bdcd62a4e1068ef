extension GBNFSynthesis {
    /// Rules every JSON grammar shares, written once and referred to by name. Their names are reserved: a schema
    /// definition called `string` becomes `string-2`.
    ///
    /// `ws` is the whitespace allowed between JSON tokens, as in llama.cpp's `SPACE_RULE`: nothing, one space, or one
    /// or two newlines followed by at most 20 spaces or tabs. It is bounded so that a model cannot loop on whitespace.
    ///
    /// Numbers are bounded the same way (llama.cpp's choice): at most 16 integer digits, 16 fraction digits and
    /// 3 exponent digits.
    ///
    /// The format rules (`date`, `uuid`, …) match the string content, between the quotes; none of them contains a
    /// character JSON would need to escape.
    enum Builtin: String, CaseIterable {
        case ws, value, object, array, string, char, number, integer, boolean, null
        case integralPart = "integral-part"
        case date, time, uuid, email, hostname, ipv4, ipv6, uri, duration
        case dateTime = "date-time"
        case emailAtom = "email-atom"
        case hostnameLabel = "hostname-label"
        case ipv4Octet = "ipv4-octet"
        case ipv6H16 = "ipv6-h16"
        case ipv6LS32 = "ipv6-ls32"
        case uriCharacter = "uri-char"
        case durationDate = "duration-date"
        case durationTime = "duration-time"
        case durationSeconds = "duration-seconds"

        var body: String {
            switch self {
            case .ws: #"( " " | "\n"{1,2} [ \t]{0,20} )?"#
            case .value: "object | array | string | number | boolean | null"
            case .object: #""{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}""#
            case .array: #""[" ws ( value ws ( "," ws value ws )* )? "]""#
            case .string: #""\"" char* "\"""#
            case .char: #"[^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )"#
            case .number: #""-"? integral-part ( "." [0-9]{1,16} )? ( [eE] [+\x2D]? [0-9]{1,3} )?"#
            case .integer: #""-"? integral-part"#
            case .integralPart: #""0" | [1-9] [0-9]{0,15}"#
            case .boolean: #""true" | "false""#
            case .null: #""null""#
            case .date:
                // Days per month, and February 29 in leap years only; years 0001 to 9999.
                [
                    #"( [0-9]{3} [1-9] | [0-9]{2} [1-9] "0" | [0-9] [1-9] "00" | [1-9] "000" ) "-" ( "#,
                    #"( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] )"#,
                    #" | ( "0" [469] | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" )"#,
                    #" | "02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) )"#,
                    #" | ( [0-9]{2} ( "0" [48] | [2468] [048] | [13579] [26] ) | ( "0" [48] | [2468] [048] | [13579] [26] ) "00" ) "-02-29""#,
                ].joined()
            case .time:
                #"( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,9} )? "#
                    + #"( "Z" | [+\x2D] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )"#
            case .dateTime: #"date "T" time"#
            case .uuid:
                #"[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}"#
            case .email: #"email-atom ( "." email-atom )* "@" hostname-label ( "." hostname-label )+"#
            case .emailAtom: #"[a-zA-Z0-9!#$%&'*+/=?\x5E_`{|}~\x2D]+"#
            case .hostname: #"hostname-label ( "." hostname-label )*"#
            case .hostnameLabel: #"[a-zA-Z0-9] ( "-"* [a-zA-Z0-9] )*"#
            case .ipv4: #"ipv4-octet "." ipv4-octet "." ipv4-octet "." ipv4-octet"#
            case .ipv4Octet: #""25" [0-5] | "2" [0-4] [0-9] | "1" [0-9]{2} | [1-9] [0-9] | [0-9]"#
            case .ipv6:
                // RFC 3986's IPv6address, one alternative per position of "::".
                [
                    #"( ipv6-h16 ":" ){6} ipv6-ls32"#,
                    #""::" ( ipv6-h16 ":" ){5} ipv6-ls32"#,
                    #"ipv6-h16? "::" ( ipv6-h16 ":" ){4} ipv6-ls32"#,
                    #"( ( ipv6-h16 ":" )? ipv6-h16 )? "::" ( ipv6-h16 ":" ){3} ipv6-ls32"#,
                    #"( ( ipv6-h16 ":" ){0,2} ipv6-h16 )? "::" ( ipv6-h16 ":" ){2} ipv6-ls32"#,
                    #"( ( ipv6-h16 ":" ){0,3} ipv6-h16 )? "::" ipv6-h16 ":" ipv6-ls32"#,
                    #"( ( ipv6-h16 ":" ){0,4} ipv6-h16 )? "::" ipv6-ls32"#,
                    #"( ( ipv6-h16 ":" ){0,5} ipv6-h16 )? "::" ipv6-h16"#,
                    #"( ( ipv6-h16 ":" ){0,6} ipv6-h16 )? "::""#,
                ].joined(separator: " | ")
            case .ipv6H16: "[0-9a-fA-F]{1,4}"
            case .ipv6LS32: #"ipv6-h16 ":" ipv6-h16 | ipv4"#
            case .uri: #"[a-zA-Z] [a-zA-Z0-9+.\x2D]* ":" ( uri-char | "%" [0-9a-fA-F]{2} )*"#
            case .uriCharacter: #"[a-zA-Z0-9\x2D._~:/?#\x5B\x5D@!$&'()*+,;=]"#
            case .duration: #""P" ( duration-date ( "T" duration-time )? | "T" duration-time | [0-9]+ "W" )"#
            case .durationDate:
                #"[0-9]+ "Y" ( [0-9]+ "M" )? ( [0-9]+ "D" )? | [0-9]+ "M" ( [0-9]+ "D" )? | [0-9]+ "D""#
            case .durationTime:
                #"[0-9]+ "H" ( [0-9]+ "M" )? duration-seconds? | [0-9]+ "M" duration-seconds? | duration-seconds"#
            case .durationSeconds: #"[0-9]+ ( "." [0-9]+ )? "S""#
            }
        }

        /// The builtins this one's body refers to.
        var dependencies: [Builtin] {
            switch self {
            case .value: [.object, .array, .string, .number, .boolean, .null]
            case .object: [.ws, .string, .value]
            case .array: [.ws, .value]
            case .string: [.char]
            case .number, .integer: [.integralPart]
            case .dateTime: [.date, .time]
            case .email: [.emailAtom, .hostnameLabel]
            case .hostname: [.hostnameLabel]
            case .ipv4: [.ipv4Octet]
            case .ipv6: [.ipv6H16, .ipv6LS32]
            case .ipv6LS32: [.ipv6H16, .ipv4]
            case .uri: [.uriCharacter]
            case .duration: [.durationDate, .durationTime]
            case .durationTime: [.durationSeconds]
            default: []
            }
        }
    }
}
