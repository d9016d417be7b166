"""Word lists the seeded names and texts are drawn from."""

CATEGORIES = (
    "Kitchen", "Garden", "Books", "Toys", "Outdoor", "Office", "Audio", "Cameras",
    "Bicycles", "Fitness", "Lighting", "Bathroom", "Bedding", "Pets", "Tools",
    "Music", "Games", "Travel", "Baby", "Beauty", "Coffee", "Camping", "Computers",
    "Phones", "Watches", "Shoes", "Bags", "Furniture", "Art", "Crafts", "Cleaning",
    "Storage", "Climbing", "Running", "Swimming", "Skiing", "Fishing", "Cycling",
    "Tea", "Stationery",
)  # fmt: skip

BRAND_STARTS = (
    "Nor", "Alp", "Bel", "Cor", "Dal", "Eve", "Fjo", "Gra", "Hal", "Ist",
    "Jun", "Kel", "Lum", "Mar", "Nov", "Orb", "Pol", "Quar", "Ros", "Sol",
)  # fmt: skip
BRAND_ENDS = (
    "vik", "dex", "ora", "tek", "berg", "lane", "wood", "ion", "ix", "une",
    "ford", "ara",
)  # fmt: skip

ADJECTIVES = (
    "eco", "compact", "classic", "premium", "wireless", "organic", "durable",
    "vintage", "smart", "portable", "quiet", "rugged", "slim", "waterproof",
    "handmade", "modular", "foldable", "ergonomic", "lightweight", "recycled",
    "heavy-duty", "minimal", "retro", "solar", "bamboo", "steel", "ceramic",
    "wool", "linen", "cordless", "adjustable", "stackable", "insulated",
    "magnetic", "digital", "analog", "cozy", "bright", "matte", "glossy",
)  # fmt: skip

NOUNS = (
    "kettle", "lamp", "backpack", "chair", "speaker", "notebook", "tent", "mug",
    "blender", "jacket", "drill", "camera", "helmet", "pillow", "bottle",
    "keyboard", "headphones", "skillet", "planter", "watch", "wallet", "scale",
    "grinder", "blanket", "shelf", "easel", "racket", "saddle", "tripod", "kite",
)  # fmt: skip

FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines",
    "Jonas", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa",
    "Sven", "Tara", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip

LAST_NAMES = (
    "Almeida", "Becker", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia",
    "Haddad", "Ivanova", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura",
    "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Weber",
)  # fmt: skip

CITIES = (
    "Lisbon", "Berlin", "Lyon", "Oslo", "Krakow", "Porto", "Milan", "Ghent",
    "Leeds", "Dublin", "Bilbao", "Tallinn", "Brno", "Utrecht", "Malmo",
)  # fmt: skip

REVIEW_TITLES = {
    1: ("Broke in a week", "Not as described", "Disappointing"),
    2: ("Meh", "Could be better", "Flimsy"),
    3: ("Does the job", "Average", "Fine for the price"),
    4: ("Very good", "Happy with it", "Solid buy"),
    5: ("Excellent", "Love it", "Best purchase this year"),
}

LOREM = (
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing",
    "elit", "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore",
    "et", "dolore", "magna", "aliqua", "enim", "ad", "minim", "veniam", "quis",
    "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip", "ex",
    "ea", "commodo", "consequat", "duis", "aute", "irure", "in",
    "reprehenderit", "voluptate", "velit", "esse", "cillum", "fugiat", "nulla",
    "pariatur", "excepteur", "sint", "occaecat", "cupidatat", "non",
    "proident", "sunt", "culpa", "qui", "officia", "deserunt", "mollit",
    "anim", "id", "est", "laborum",
)  # fmt: skip
