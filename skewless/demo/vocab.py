"""Word lists of the synthetic news platform: per-topic vocabularies, named entities, templates.

Every article is written from its topic's nouns, verbs and adjectives, the news words all topics
share, English function words, and named entities (people, organisations, places). The entities
are fictional on purpose (no statement about a real person), but shaped like real ones
(first name + surname, "Bank of ...", "... Institute") so that a sentence-embedding model and a
pattern-based extractor see text that looks like news.

A few surnames are shared between topics' people (e.g. "Okafor"), so that a surname-only mention
is ambiguous unless the article named the person in full first, as real news text is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """One news category: what its articles are written from."""

    name: str
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]  # past tense: every template uses them that way
    adjectives: tuple[str, ...]
    people: tuple[str, ...]  # "First Last"
    orgs: tuple[str, ...]
    places: tuple[str, ...]


def words(text: str) -> tuple[str, ...]:
    """The space-separated words of a literal (long word lists read better as one string)."""
    return tuple(text.split())


def _t(name: str, nouns: str, verbs: str, adjectives: str, people: str, orgs: str, places: str) -> Topic:
    return Topic(
        name=name,
        nouns=tuple(nouns.split()),
        verbs=tuple(verbs.split()),
        adjectives=tuple(adjectives.split()),
        people=tuple(p.strip() for p in people.split(",")),
        orgs=tuple(o.strip() for o in orgs.split(",")),
        places=tuple(p.strip() for p in places.split(",")),
    )


TOPICS: tuple[Topic, ...] = (
    _t(
        "politics",
        "election parliament minister vote coalition bill senate campaign ballot opposition policy reform referendum"
        " cabinet lawmakers voters government majority constituency legislation budget debate mandate candidate poll",
        "passed rejected vetoed proposed debated approved blocked introduced amended endorsed",
        "parliamentary electoral partisan legislative bipartisan conservative progressive constitutional",
        "Elena Marsh, Viktor Halden, Amara Okafor, Jonas Brevik, Lucia Ferrand, Tomasz Wilk",
        "National Assembly, Liberty Party, Civic Alliance, Electoral Commission, Ministry of the Interior",
        "Veldmark, Port Alvara, Castelnor, Redhaven",
    ),
    _t(
        "world",
        "summit diplomats embassy ceasefire treaty sanctions border refugees envoy talks alliance negotiations"
        " humanitarian aid conflict peacekeepers delegation foreign ministry troops region crisis accord",
        "signed brokered condemned withdrew imposed mediated evacuated negotiated deployed recognised",
        "diplomatic foreign humanitarian bilateral regional multinational international cross-border",
        "Samir Haddad, Ingrid Solberg, Kwame Mensah, Mei Lin Zhao, Rafael Duarte, Anya Petrova",
        "United Nations Council, Red Meridian Relief, Northern Treaty Organisation, Global Food Agency, Pacific Forum",
        "Kharovia, Sant Ilario, Dunmore Straits, Eastern Velia",
    ),
    _t(
        "business",
        "shares profits revenue investors merger acquisition earnings quarter dividend market stocks bank inflation"
        " interest rates economy startup funding valuation retailer supply chain exports tariffs layoffs",
        "acquired reported raised cut announced merged forecast rallied slumped invested",
        "quarterly fiscal corporate financial annual profitable volatile competitive",
        "Daniel Okafor, Priya Raman, Henrik Lund, Claire Dubois, Marcus Feld, Sofia Andrade",
        "Halvorsen Bank, Bank of Aldoria, Northbridge Capital, Meridian Retail Group, Ostrava Motors",
        "Aldoria, Lindqvist Harbour, Brennport, New Calder",
    ),
    _t(
        "tech",
        "smartphone software app platform startup chip processor algorithm data privacy cloud users update"
        " developers artificial intelligence robot gadget browser network cybersecurity hackers encryption server",
        "launched unveiled released patched hacked upgraded shipped acquired open-sourced rolled",
        "digital wireless encrypted online mobile automated open-source generative",
        "Nadia Kovacs, Ethan Park, Leila Shah, Oskar Brandt, Yuki Tanaka, Mateo Rossi",
        "Quantix Labs, Nimbus Systems, Corelight Devices, Arcwave, Bitharbor",
        "Silicon Fjord, Tallow Valley, Kestrel Bay, Nordhavn",
    ),
    _t(
        "science",
        "researchers study telescope species fossil experiment laboratory physicists genome particles galaxy"
        " discovery journal specimen mission orbit asteroid neutron molecules evolution microscope hypothesis",
        "discovered observed measured published detected identified confirmed sequenced launched mapped",
        "scientific experimental genetic molecular astronomical peer-reviewed microscopic quantum",
        "Ada Lindgren, Tobias Wren, Fatima Nour, Kenji Mori, Helena Vasquez, Piotr Nowak",
        "Ostwald Institute, Aurora Space Agency, Royal Academy of Sciences, Helix Research Centre, Polaris Observatory",
        "Mount Serac, Bellmar Ridge, Kovalen Basin, Isla Verde",
    ),
    _t(
        "health",
        "patients hospital vaccine doctors nurses treatment clinic disease outbreak virus symptoms diagnosis"
        " surgery therapy medicine trial infection prescription wellbeing obesity diabetes cancer screening",
        "treated vaccinated diagnosed prescribed admitted recovered screened warned recommended approved",
        "medical clinical chronic infectious preventive mental surgical pediatric",
        "Grace Mwangi, Stefan Weiss, Ines Carvalho, Omar Farouk, Hannah Brooks, Li Wei",
        "Public Health Agency, St Brennan Hospital, Medica Trust, Alder Pharmaceuticals, Health Workers Union",
        "Westvale, Larchmont, Port Sorrel, Mirewood",
    ),
    _t(
        "sport",
        "match goal striker coach league season championship tournament referee fans stadium injury transfer"
        " penalty victory defeat final midfielder goalkeeper medal athletes marathon tennis squad",
        "scored won lost beat defeated signed sacked equalised qualified retired",
        "unbeaten dramatic decisive athletic sporting record-breaking relegated victorious",
        "Luca Benetti, Jamal Okafor, Sven Ekdahl, Carla Mendes, Ryan Doyle, Aiko Sato",
        "Redhaven United, Castelnor Athletic, Velia Rovers, Northern Football League, Olympic Committee",
        "Harrow Park, Brennport Arena, Castelnor, Kingsmere",
    ),
    _t(
        "culture",
        "film album concert festival artist director novel exhibition museum theatre actor singer premiere"
        " gallery soundtrack audience critics award musicians orchestra painting poetry box-office",
        "premiered released directed starred performed exhibited published toured composed reviewed",
        "artistic cinematic musical theatrical acclaimed literary animated award-winning",
        "Isabelle Moreau, Felix Aronson, Zara Quinn, Mateus Lima, Noor Haddad, Oliver Strand",
        "Grand Lyric Theatre, Silverline Pictures, National Gallery of Velia, Harbour Records, Aurelia Film Festival",
        "Montclare, Old Quarter, Saint Aubin, Lakeside",
    ),
    _t(
        "climate",
        "emissions carbon warming drought floods wildfires renewables solar wind energy glaciers heatwave"
        " biodiversity pollution deforestation coastline storms rainfall sea levels conservation recycling",
        "pledged warned flooded burned melted reduced installed banned restored emitted",
        "environmental renewable sustainable extreme coastal carbon-neutral green arid",
        "Maya Greenberg, Arjun Mehta, Solveig Dahl, Tunde Bakare, Elise Fontaine, Diego Herrera",
        "Green Horizon Fund, Climate Watch Network, Solaris Energy, Ocean Trust, Environmental Protection Board",
        "Glacier Bay, Marrow Delta, Sunfield Plains, Cape Varen",
    ),
    _t(
        "travel",
        "tourists flights airport hotel destination beaches resort passengers airline cruise holiday itinerary"
        " visa luggage booking travellers island museum landmarks backpackers ferry railway",
        "visited cancelled delayed booked explored reopened welcomed stranded crowded upgraded",
        "scenic tropical budget luxury remote historic seasonal picturesque",
        "Chloe Bennett, Marco Valli, Astrid Holm, Rohan Kapoor, Julia Novak, Kofi Asante",
        "Skyway Airlines, Azure Cruises, Wanderlust Hotels, Tourism Board of Lirea, Coastal Rail",
        "Lirea, Santa Brisa, Alpenfeld, Coral Keys",
    ),
    _t(
        "food",
        "restaurant chef recipe menu dishes ingredients cuisine bakery wine flavour harvest farmers kitchen"
        " dinner tasting vegetables spices dessert cookbook diners street-food vineyard",
        "cooked baked tasted served opened grilled harvested roasted seasoned reviewed",
        "delicious seasonal organic vegetarian spicy traditional crispy gourmet",
        "Pierre Laurent, Amina Diallo, Gianni Russo, Freya Olsen, Hiro Nakamura, Beatriz Costa",
        "Golden Fork Guide, Harvest Collective, Maison Verre, Street Kitchen Co, Vintners Guild",
        "Valle Oro, Bramblewick, Ostra Bay, Rue Celeste",
    ),
    _t(
        "crime",
        "police suspect arrest court trial judge jury investigation detectives robbery fraud murder prison"
        " sentence verdict lawyers evidence witnesses charges prosecutors bail smuggling",
        "arrested charged convicted sentenced acquitted investigated raided seized testified appealed",
        "criminal judicial fraudulent violent undercover forensic alleged guilty",
        "Victor Kane, Ruth Adeyemi, Lars Moen, Paula Ortega, Simon Reyes, Dana Whitfield",
        "Metropolitan Police, High Court of Castelnor, Serious Fraud Office, Coastguard Agency, Bar Council",
        "Docklands, Redhaven, Eastgate, Mill Lane",
    ),
)

TOPIC_NAMES: tuple[str, ...] = tuple(t.name for t in TOPICS)

# How much of the feed each category is (politics and sport write and get read more).
TOPIC_SHARE: tuple[float, ...] = (0.12, 0.10, 0.10, 0.09, 0.06, 0.08, 0.13, 0.08, 0.06, 0.05, 0.05, 0.08)

# News words every topic uses: they make categories overlap as in real text.
GENERAL_NOUNS: tuple[str, ...] = words(
    "report officials week month year people plans statement sources changes concerns figures decision"
    " analysis questions details response impact community experts spokesperson numbers future"
)
SPANS: tuple[str, ...] = ("week", "month", "year", "quarter", "season")
DAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Long-tail people: names the knowledge base (the extractor's gazetteer) does not know yet.
NOVEL_FIRST: tuple[str, ...] = words(
    "Alma Bruno Cecile Dario Edith Flavio Greta Hugo Irena Joel Katya Leon Mina Nils Olga Pavel Rhea Silas Tilda Ugo"
)
NOVEL_LAST: tuple[str, ...] = words(
    "Abernethy Brightwater Castellanos Drummond Eriksen Fairbanks Galloway Holloway Ivers Jarvinen Kessler"
    " Lockhart Montague Northcott Pemberton Quill Rasmussen Stroud Thackeray Underhill"
)
# Long-tail organisations: one capitalised word, which a two-word name pattern cannot catch.
NOVEL_ORGS: tuple[str, ...] = words("Zentrix Olvara Brightlane Kormak Vestige Tallis Quorra Dunlin Marrowick Sennet")
# Titles of reports, films or products: capitalised like names, but not named entities.
TITLE_FIRST: tuple[str, ...] = words("Silent Golden Broken Hidden Distant Paper Crimson Quiet Northern Open")
TITLE_SECOND: tuple[str, ...] = words("Harbour Lanterns Summer Tides Empire Garden Rivers Letters Machines Voices")
NOVEL_ROLES: tuple[str, ...] = ("a spokesperson", "an analyst", "a local resident", "a senior official", "a witness", "an economist")

# Sentence templates. Slots: {n} {n2} {n3} topic nouns, {v} topic verb (past), {a} {a2} adjectives,
# {g} a general noun, {d} a weekday, {t} a span of time, {E} any entity of the article, {P} a person, {O} an organisation,
# {L} a place, {X} a long-tail person, {r} a role ("a spokesperson"), {Z} a long-tail organisation,
# {W} a title ("Silent Harbour").
BODY_TEMPLATES: tuple[str, ...] = (
    "{E} {v} the {a} {n} on {d}.",
    "The {n} {v} after {O} announced a {a} {n2} in {L}.",
    "According to {O}, the {n} has become more {a} this {t}.",
    '{P}, who works with {O}, said the {n} was "{a} but {a2}".',
    "Officials in {L} {v} the {n} amid concerns over the {n2}.",
    "It is the second time this {t} that {O} has {v} a {n}.",
    "Critics argue that the {n} could affect the {n2} and the {n3}.",
    "Analysts expect more {n} and further {n2} in the coming {t}.",
    "{P} told reporters that the {a} {n} {v} faster than expected.",
    "The {n2} was first reported by {O} on {d}.",
    "Meanwhile, the {n} in {L} {v} the {a} {n2}.",
    "{X}, {r}, said the {n} was a {a} {g} for {L}.",
    'The {g} on the {n} is "{a}", said {X}.',
    "Supporters of the {n} say it will help the {n2} in {L}.",
    "Details of the {a} {n} are expected to be published next {t}.",
    "The {n} and the {n2} were {v} in {L} last {t}.",
    '{O} described the {n} in "{W}", a {a} report published on {d}.',
    "{Z}, a {a} newcomer, {v} the {n} this {t}.",
    "The {n} was {v} by {Z} and {O}.",
)
HEADLINE_TEMPLATES: tuple[str, ...] = (
    "{E} {v} {a} {n}",
    "{A} {n} {v} in {L}",
    "{N} {v} as {O} faces {n2}",
    "Why the {n} matters for the {n2}",
    "{P} on the {a} {n} and the {n2}",
    "{O} {v} {n} after {a} {g}",
    "{L}: {n} {v} amid {n2}",
)
