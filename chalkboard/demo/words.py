"""Names and sentences the demo data is written with."""

FIRST_NAMES = (
    "Ana", "Bruno", "Carla", "Diogo", "Elena", "Filipe", "Grace", "Hugo", "Inês", "João", "Kate", "Luís",
    "Maria", "Nuno", "Olivia", "Pedro", "Quinn", "Rita", "Sofia", "Tomás", "Uma", "Vasco", "Wendy", "Xavier",
    "Yara", "Zoe", "Amir", "Beatriz", "Chen", "Daniela", "Emeka", "Fatima", "Gabriel", "Hana", "Ivan", "Jamal",
    "Keiko", "Leon", "Mei", "Noah", "Omar", "Priya", "Rafael", "Sara", "Theo", "Valentina", "Wei", "Yusuf",
)  # fmt: skip
LAST_NAMES = (
    "Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Sousa", "Fernandes",
    "Gonçalves", "Gomes", "Lopes", "Marques", "Almeida", "Ribeiro", "Carvalho", "Smith", "Johnson", "Williams",
    "Brown", "Garcia", "Miller", "Davis", "Martinez", "Lee", "Nguyen", "Kim", "Patel", "Okafor", "Tanaka",
    "Müller", "Rossi", "Dubois", "Novak", "Hassan", "Cohen", "Walker", "Young", "Moreno",
)  # fmt: skip
GRADES = ("Year 5", "Year 6", "Year 7", "Year 8", "Year 9", "Year 10", "Year 11", "Year 12")
RELATIONSHIPS = ("mother", "father", "guardian", "grandmother", "aunt")
LOCATIONS = ("Room 1", "Room 2", "Room 3", "Library", "Online")
CANCELLATION_REASONS = (
    "Student is ill.",
    "Family trip.",
    "Teacher unavailable.",
    "School exam on the same day.",
    "Rescheduled at the guardian's request.",
)
SHARED_NOTES = (
    "Good progress on {skill}. Practise the exercises on page {page} before next time.",
    "We revised {skill}; a short quiz next session.",
    "Confident with {skill} today. Keep reading 20 minutes a day.",
    "Homework: finish the {skill} worksheet.",
)
STAFF_NOTES = (
    "Struggles with {skill}; plan a longer session.",
    "Seemed tired; check in with the guardian about sleep.",
    "Ready to move on from {skill}.",
)
ADMIN_NOTES = (
    "Guardian asked about invoicing for this month.",
    "Discussed moving this student to a group session.",
    "Late payment reminder sent.",
)
NO_SHOW_NOTE = "Student did not come; the guardian could not be reached."
ASSESSMENT_COMMENTS = ("", "", "Well done.", "Careless mistakes.", "Needs to show the working.", "Big improvement.")
BIOS = (
    "Teaches with lots of worked examples.",
    "Former exam marker; patient and precise.",
    "Loves turning hard problems into small steps.",
    "Ten years of one-to-one tutoring.",
)
