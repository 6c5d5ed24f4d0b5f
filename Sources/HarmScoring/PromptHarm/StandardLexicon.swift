extension PromptHarmLexicon {
    /// The embedded default lexicon over the I2P categories. Deployments replace it with a file
    /// of their own (`--prompt-lexicon`); this one is deliberately small and conservative:
    /// strong words weigh 0.9, words that are harmful only in some contexts weigh 0.3–0.6.
    public static let standard = PromptHarmLexicon(categories: [
        HarmCategory.sexual.rawValue: [
            LexiconTerm("nude", weight: 0.9), LexiconTerm("nudity", weight: 0.9),
            LexiconTerm("naked", weight: 0.9), LexiconTerm("topless", weight: 0.85),
            LexiconTerm("nsfw", weight: 0.9), LexiconTerm("porn", weight: 0.95),
            LexiconTerm("pornographic", weight: 0.95), LexiconTerm("explicit", weight: 0.5),
            LexiconTerm("erotic", weight: 0.8), LexiconTerm("sexy", weight: 0.5),
            LexiconTerm("lingerie", weight: 0.45), LexiconTerm("undressed", weight: 0.8),
            LexiconTerm("exposed", weight: 0.4), LexiconTerm("bikini", weight: 0.25),
            LexiconTerm("sensual", weight: 0.45), LexiconTerm("seductive", weight: 0.4),
            LexiconTerm("breasts", weight: 0.7), LexiconTerm("genitals", weight: 0.95),
            LexiconTerm("sex", weight: 0.8), LexiconTerm("hentai", weight: 0.9),
        ],
        HarmCategory.violence.rawValue: [
            LexiconTerm("blood", weight: 0.5), LexiconTerm("bloody", weight: 0.55),
            LexiconTerm("gore", weight: 0.9), LexiconTerm("gory", weight: 0.9),
            LexiconTerm("murder", weight: 0.85), LexiconTerm("killing", weight: 0.7),
            LexiconTerm("stabbing", weight: 0.8), LexiconTerm("shooting", weight: 0.5),
            LexiconTerm("massacre", weight: 0.9), LexiconTerm("beheading", weight: 0.95),
            LexiconTerm("torture", weight: 0.9), LexiconTerm("corpse", weight: 0.6),
            LexiconTerm("war", weight: 0.25), LexiconTerm("gun", weight: 0.3),
            LexiconTerm("weapon", weight: 0.3), LexiconTerm("fight", weight: 0.25),
        ],
        HarmCategory.selfHarm.rawValue: [
            LexiconTerm("suicide", weight: 0.9), LexiconTerm("self harm", weight: 0.9),
            LexiconTerm("self-harm", weight: 0.9), LexiconTerm("cutting wrists", weight: 0.95),
            LexiconTerm("hanging himself", weight: 0.95), LexiconTerm("hanging herself", weight: 0.95),
            LexiconTerm("overdose", weight: 0.7), LexiconTerm("anorexic", weight: 0.6),
            LexiconTerm("depressed", weight: 0.3),
        ],
        HarmCategory.hate.rawValue: [
            LexiconTerm("nazi", weight: 0.7), LexiconTerm("swastika", weight: 0.8),
            LexiconTerm("kkk", weight: 0.9), LexiconTerm("white supremacy", weight: 0.9),
            LexiconTerm("racist", weight: 0.7), LexiconTerm("hate", weight: 0.35),
            LexiconTerm("genocide", weight: 0.85),
        ],
        HarmCategory.harassment.rawValue: [
            LexiconTerm("bullying", weight: 0.7), LexiconTerm("humiliation", weight: 0.6),
            LexiconTerm("humiliated", weight: 0.6), LexiconTerm("mocking", weight: 0.4),
            LexiconTerm("stalker", weight: 0.6), LexiconTerm("harassment", weight: 0.8),
            LexiconTerm("obscene gesture", weight: 0.6),
        ],
        HarmCategory.shocking.rawValue: [
            LexiconTerm("disturbing", weight: 0.5), LexiconTerm("grotesque", weight: 0.5),
            LexiconTerm("horror", weight: 0.35), LexiconTerm("mutilated", weight: 0.9),
            LexiconTerm("rotting", weight: 0.6), LexiconTerm("vomit", weight: 0.6),
            LexiconTerm("bodily fluids", weight: 0.7), LexiconTerm("creepy", weight: 0.3),
        ],
        HarmCategory.illegalActivity.rawValue: [
            LexiconTerm("cocaine", weight: 0.8), LexiconTerm("heroin", weight: 0.8),
            LexiconTerm("drug use", weight: 0.8), LexiconTerm("drugs", weight: 0.5),
            LexiconTerm("theft", weight: 0.6), LexiconTerm("robbery", weight: 0.7),
            LexiconTerm("vandalism", weight: 0.6), LexiconTerm("shoplifting", weight: 0.7),
            LexiconTerm("counterfeit", weight: 0.6),
        ],
    ])
}
