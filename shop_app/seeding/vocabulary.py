"""Word lists the seeded names and texts are drawn from."""

# Each category with the things it sells and their price range in euros, so
# that a seeded product's name, brand and price fit its category.
CATALOG = (
    (
        "Kitchen",
        (
            "kettle",
            "blender",
            "skillet",
            "knife set",
            "cutting board",
            "toaster",
            "saucepan",
        ),
        6,
        240,
    ),
    (
        "Garden",
        (
            "planter",
            "garden hose",
            "pruning shears",
            "watering can",
            "rake",
            "bird feeder",
        ),
        4,
        180,
    ),
    (
        "Books",
        (
            "cookbook",
            "field guide",
            "atlas",
            "travel guide",
            "poetry collection",
            "biography",
        ),
        6,
        60,
    ),
    (
        "Toys",
        (
            "building set",
            "jigsaw puzzle",
            "plush bear",
            "toy train",
            "marble run",
            "puppet",
        ),
        5,
        120,
    ),
    (
        "Outdoor",
        ("hammock", "cooler box", "picnic blanket", "lantern", "folding chair"),
        10,
        300,
    ),
    (
        "Office",
        ("desk lamp", "office chair", "monitor stand", "desk organiser", "whiteboard"),
        5,
        450,
    ),
    (
        "Audio",
        ("speaker", "headphones", "turntable", "soundbar", "earbuds", "amplifier"),
        20,
        900,
    ),
    (
        "Cameras",
        ("camera", "zoom lens", "tripod", "camera bag", "flash", "memory card"),
        15,
        2_000,
    ),
    (
        "Bicycles",
        ("city bike", "gravel bike", "kids' bike", "cargo bike", "folding bike"),
        180,
        3_500,
    ),
    (
        "Fitness",
        ("yoga mat", "kettlebell", "dumbbell set", "resistance band", "rowing machine"),
        8,
        900,
    ),
    (
        "Lighting",
        ("floor lamp", "pendant light", "string lights", "table lamp", "wall light"),
        5,
        300,
    ),
    (
        "Bathroom",
        ("towel set", "bath mat", "shower head", "soap dispenser", "bathroom mirror"),
        5,
        200,
    ),
    (
        "Bedding",
        ("duvet", "pillow", "sheet set", "wool blanket", "mattress topper"),
        15,
        400,
    ),
    ("Pets", ("dog bed", "cat tree", "leash", "pet bowl", "scratching post"), 5, 200),
    (
        "Tools",
        ("drill", "screwdriver set", "hammer", "tool box", "spirit level", "hand saw"),
        8,
        400,
    ),
    (
        "Music",
        ("acoustic guitar", "ukulele", "digital piano", "metronome", "guitar strings"),
        5,
        1_500,
    ),
    (
        "Games",
        ("board game", "card game", "chess set", "dice set", "puzzle box"),
        5,
        120,
    ),
    (
        "Travel",
        (
            "suitcase",
            "travel pillow",
            "packing cubes",
            "passport wallet",
            "travel adapter",
        ),
        5,
        350,
    ),
    (
        "Baby",
        ("stroller", "baby monitor", "high chair", "changing mat", "teether"),
        5,
        700,
    ),
    (
        "Beauty",
        ("hair dryer", "face cream", "make-up brush set", "hand mirror", "perfume"),
        5,
        250,
    ),
    (
        "Coffee",
        (
            "coffee grinder",
            "espresso machine",
            "moka pot",
            "pour-over kettle",
            "coffee beans",
        ),
        8,
        900,
    ),
    (
        "Camping",
        ("tent", "sleeping bag", "camping stove", "headlamp", "sleeping mat"),
        10,
        600,
    ),
    (
        "Computers",
        ("laptop", "keyboard", "mouse", "monitor", "webcam", "docking station"),
        15,
        2_500,
    ),
    (
        "Phones",
        ("smartphone", "phone case", "charger", "power bank", "phone stand"),
        5,
        1_200,
    ),
    ("Watches", ("wristwatch", "watch strap", "smartwatch", "pocket watch"), 20, 900),
    (
        "Shoes",
        ("running shoes", "hiking boots", "sandals", "sneakers", "slippers"),
        20,
        250,
    ),
    (
        "Bags",
        ("backpack", "tote bag", "messenger bag", "duffel bag", "wallet"),
        10,
        300,
    ),
    (
        "Furniture",
        ("bookshelf", "sofa", "dining table", "armchair", "coffee table", "stool"),
        40,
        2_000,
    ),
    ("Art", ("easel", "canvas", "paint set", "sketchbook", "brush set"), 4, 300),
    (
        "Crafts",
        ("sewing kit", "yarn", "knitting needles", "glue gun", "bead set"),
        3,
        150,
    ),
    (
        "Cleaning",
        ("vacuum cleaner", "mop", "spray bottle", "broom", "microfibre cloths"),
        3,
        500,
    ),
    (
        "Storage",
        (
            "storage box",
            "wall shelf",
            "drawer organiser",
            "laundry basket",
            "coat hooks",
        ),
        4,
        250,
    ),
    (
        "Climbing",
        ("climbing harness", "chalk bag", "climbing shoes", "carabiner", "rope"),
        5,
        300,
    ),
    (
        "Running",
        ("running vest", "water bottle", "running belt", "headband", "sports watch"),
        5,
        400,
    ),
    (
        "Swimming",
        ("goggles", "swimsuit", "swim cap", "kickboard", "beach towel"),
        5,
        120,
    ),
    (
        "Skiing",
        ("skis", "ski goggles", "ski helmet", "ski gloves", "ski poles"),
        15,
        900,
    ),
    (
        "Fishing",
        ("fishing rod", "reel", "tackle box", "landing net", "lure set"),
        5,
        500,
    ),
    (
        "Cycling",
        ("bike helmet", "bike light", "bike lock", "cycling gloves", "saddle", "pump"),
        8,
        300,
    ),
    (
        "Tea",
        ("teapot", "loose leaf tea", "tea infuser", "tea cups", "matcha whisk"),
        4,
        150,
    ),
    (
        "Stationery",
        ("notebook", "fountain pen", "pencil set", "planner", "envelopes"),
        2,
        120,
    ),
)
CATEGORIES = tuple(name for name, _things, _low, _high in CATALOG)

# Words that describe almost anything a shop sells, for product names.
QUALITIES = (
    "classic", "compact", "essential", "everyday", "premium", "deluxe",
    "original", "modern", "simple", "signature", "studio", "heritage",
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

# Review sentences by how the customer felt: 1-2 stars, 3, and 4-5.
REVIEW_SENTENCES = {
    "bad": (
        "It stopped working after a few days.",
        "The photos made it look much better than it is.",
        "Parts of it arrived scratched.",
        "I sent it back and waited two weeks for the refund.",
        "The instructions were missing from the box.",
        "It feels cheaper than the price suggests.",
        "Customer service answered, but could not help.",
        "I would not buy it again.",
    ),
    "fair": (
        "It does what it says, nothing more.",
        "Delivery was quick and the packaging was fine.",
        "For the price it is acceptable.",
        "The finish could be better.",
        "It took a while to get used to it.",
        "Good enough for occasional use.",
        "I expected it to be a little bigger.",
        "Not bad, not great.",
    ),
    "good": (
        "Exactly what I was looking for.",
        "It arrived a day early and well packed.",
        "The quality is better than I expected.",
        "I use it every day and it still looks new.",
        "Easy to set up, and it works well.",
        "I bought a second one as a present.",
        "Worth every cent.",
        "My family loves it too.",
    ),
}

# Sentences a product description is made of: plain shop copy that fits
# anything, so that descriptions read as text and still weigh several KB.
DESCRIPTION_SENTENCES = (
    "Every piece is checked by hand before it leaves the workshop.",
    "It is built for years of daily use, not for a season.",
    "The finish resists scratches, stains and fading in the sun.",
    "Clean it with a damp cloth and a little mild soap.",
    "It ships in recyclable packaging without any plastic.",
    "Spare parts stay available for at least five years after purchase.",
    "Customers tell us it is the one they reach for first.",
    "It weighs less than the model it replaces and feels just as solid.",
    "We buy the materials from suppliers we have visited ourselves.",
    "The two-year warranty covers every defect in materials and workmanship.",
    "Returns are free within thirty days of delivery.",
    "It fits on a small shelf and takes little room when stored.",
    "The design has barely changed since the first version: it did not need to.",
    "Where assembly is needed, it takes a few minutes and no special tools.",
    "Colours may look slightly different on your screen than in your hands.",
    "Our support team answers questions about it on weekdays within a day.",
    "It was tested by a group of customers for three months before launch.",
    "The edges are rounded so that nothing catches or scratches.",
    "Each batch is numbered, so a problem can be traced back to where it began.",
    "A printed guide in the box explains how to care for it.",
    "It is made in a factory that runs on renewable electricity.",
    "Small differences between pieces come from the natural materials.",
    "It works as well for beginners as for people who use one every day.",
    "The details below give its size in centimetres.",
    "Keep it away from open flames and direct heat.",
    "Orders placed before noon leave our warehouse the same day.",
    "It pairs well with the other products of the same range.",
    "Thousands of customers have reviewed it, and most would buy it again.",
)  # fmt: skip
