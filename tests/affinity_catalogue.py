"""A planted Chinese and English catalogue for the affinity tests: sun care, moisturising and
hair care, each product's text naming its group in both languages."""

CATALOGUE = [
    # sku, name, description, category path, brand, attributes
    ("sun-1", "清爽防曬乳 SPF50 sunscreen", "輕薄防曬 sunscreen lotion, protects from UV rays at the beach",
     ["保養", "防曬"], "Anessa", {"skin_type": "oily"}),
    ("sun-2", "Sunscreen gel SPF30 防曬凝露", "Water-resistant sunscreen gel 防曬 for UV protection outdoors",
     ["保養", "防曬"], "Biore", {"skin_type": ["oily", "combination"]}),
    ("sun-3", "兒童防曬霜 Kids sunscreen", "溫和防曬 mineral sunscreen, UV filter for sensitive skin at the beach",
     ["保養", "防曬"], "Anessa", {"skin_type": "sensitive"}),
    ("sun-4", "防曬噴霧 Sunscreen spray", "Sunscreen spray 防曬 UV protection, reapply at the beach",
     ["保養", "防曬"], "Biore", {}),
    ("sun-5", "Tinted sunscreen 防曬隔離霜", "防曬 tinted sunscreen with UV filters", ["保養", "防曬"], "Shiseido", {}),
    ("moist-1", "玻尿酸保濕精華 Hyaluronic serum", "保濕 hydrating serum with hyaluronic acid for dry skin",
     ["保養", "保濕"], "Neogence", {"skin_type": "dry"}),
    ("moist-2", "保濕面霜 Moisturising cream", "Rich moisturising cream 保濕 for dry skin, hydrating overnight",
     ["保養", "保濕"], "Neogence", {"skin_type": "dry"}),
    ("moist-3", "Hydrating toner 保濕化妝水", "保濕 hydrating toner with hyaluronic acid", ["保養", "保濕"], "Shiseido", {}),
    ("moist-4", "保濕面膜 Hydrating sheet mask", "Hydrating mask 保濕 hyaluronic acid for dry skin",
     ["保養", "保濕"], "Neogence", {}),
    ("moist-5", "Moisturising lotion 保濕乳液", "保濕 moisturising lotion for dry skin", ["保養", "保濕"], "Biore", {}),
    ("hair-1", "Anti-dandruff shampoo 去屑洗髮精", "去屑 shampoo for a clean scalp and dandruff control",
     ["美髮", "洗髮"], "Kerasys", {}),
    ("hair-2", "Scalp shampoo 頭皮洗髮精", "Gentle scalp shampoo 洗髮精 against dandruff", ["美髮", "洗髮"], "Kerasys", {}),
    ("hair-3", "Repair conditioner 修護潤髮乳", "Conditioner for damaged hair, shampoo partner 修護",
     ["美髮", "潤髮"], "Kerasys", {}),
    ("hair-4", "Hair oil 護髮油", "Hair oil for damaged hair repair 修護 after shampoo", ["美髮", "護髮"], "Moroccanoil", {}),
]


def texts() -> list[str]:
    return [f"{name} {description}" for _, name, description, *_ in CATALOGUE]
