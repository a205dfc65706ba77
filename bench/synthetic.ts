import type { Encounter, Patient } from 'fhir/r4.js';

/** A small seeded PRNG (mulberry32): the same seed gives the same data set on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;

export const pick = <T>(rng: Random, list: readonly T[]): T =>
  list[Math.floor(rng() * list.length)]!;

/** Family names from many origins, some accented, roughly from common to rare. */
export const FAMILY_NAMES: readonly string[] = `
Smith Johnson Williams Brown Jones Miller Davis García Rodríguez Wilson Martínez Anderson Taylor
Thomas Hernández Moore Martin Jackson Thompson White López Lee González Harris Clark Lewis
Robinson Walker Pérez Hall Young Allen Sánchez Wright King Scott Green Baker Adams Nelson Hill
Ramírez Campbell Mitchell Roberts Carter Phillips Evans Turner Torres Parker Collins Edwards
Stewart Flores Morris Nguyen Murphy Rivera Cook Rogers Morgan Peterson Cooper Reed Bailey Bell
Gómez Kelly Howard Ward Cox Díaz Richardson Wood Watson Brooks Bennett Gray James Reyes Cruz
Hughes Price Myers Long Foster Sanders Ross Morales Powell Sullivan Russell Ortiz Jenkins
Gutiérrez Perry Butler Barnes Fisher Henderson Coleman Simmons Patterson Jordan Reynolds
Hamilton Graham Kim Álvarez Wallace Griffin Woods Ruiz Ramos Chávez Núñez Jiménez Muñoz Castillo
Vásquez Romero Navarro Domínguez Fernández Moreno Gil Serrano Blanco Suárez Molina Delgado Ortega
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer
Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange
Köhler Weiß Jäger Böhm Dubois Lefèvre Moreau Laurent Girard Bonnet Dupont Lambert Fontaine
Rousseau Mercier Faure Chevalier Gauthier Perrin Lemaître Rossi Russo Ferrari Esposito Bianchi
Romano Colombo Ricci Marino Greco Bruno Gallo Conti Costa Giordano Mancini Lombardi Silva Santos
Oliveira Souza Lima Pereira Carvalho Gonçalves Ribeiro Almeida Araújo Conceição Leão Magalhães
Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Dvořák Novák Svoboda
Černý Procházka Kučera Horváth Nagy Tóth Szabó Kovács Varga Jensen Nielsen Hansen Pedersen
Andersen Christensen Larsen Sørensen Johansson Karlsson Nilsson Eriksson Larsson Björk Lindström
Ångström Øvergaard Løvland Virtanen Korhonen Mäkinen Nieminen Ivanov Smirnov Kuznetsov Popov
Petrov Sokolov Volkov Papadopoulos Georgiou Yılmaz Kaya Demir Şahin Çelik Öztürk Cohen Levi
Mizrahi Friedman Haddad Khalil Nasser Saleh Mansour Aziz Hussein Rahman Karimi Hosseini Tehrani
Patel Shah Singh Kumar Sharma Gupta Reddy Rao Iyer Nair Das Bose Chatterjee Mukherjee Banerjee
Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo Lin He Gao Luo Tanaka Suzuki
Takahashi Watanabe Itō Yamamoto Nakamura Kobayashi Katō Yoshida Sasaki Park Choi Jung Kang Cho
Yoon Jang Lim Tran Le Pham Hoang Phan Vu Dang Bui Do Ngo Duong Okafor Adeyemi Okonkwo Mensah
Owusu Boateng Nkosi Dlamini Ndlovu Abebe Tesfaye Mwangi Otieno Kamau Diallo Traoré Ndiaye Keïta
Coulibaly O'Brien O'Connor Byrne Ryan Doyle McCarthy Gallagher Quinn MacDonald Cameron Fraser
Morrison Robertson Thomson Paterson Kaur Gill Sandhu Ali Khan Ahmed Hassan Ibrahim Mahmoud
`
  .trim()
  .split(/\s+/);

export const GIVEN_FEMALE: readonly string[] = `
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Sandra
Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca
Sharon Laura Cynthia Amy Angela Helen Anna Brenda Emma Olivia Sophia Isabella Mia Charlotte
Amelia Harper Evelyn Abigail María Lucía Sofía Valentina Camila Inés Zoë Chloé Léa Manon Noémie
Hélène Renée Anaïs Björg Åsa Søs Małgorzata Zofia Agnieszka Anja Jutta Lena Greta Frida Chiara
Giulia Francesca Beatriz Conceição Joana Ana Fatima Aisha Leila Yasmin Zainab Priya Ananya Divya
Mei Xiu Ying Yuki Sakura Haruka Ji-woo Seo-yeon Linh Thảo Ngozi Amara Chiamaka Wanjiru Aminata
`
  .trim()
  .split(/\s+/);

export const GIVEN_MALE: readonly string[] = `
James Robert John Michael David William Richard Joseph Thomas Charles Christopher Daniel Matthew
Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward
Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Liam Noah
Oliver Elijah Lucas Mateo José Luis Carlos Javier Andrés Raúl Sebastián Ángel Joaquín Iñigo
François Jérôme Théo Loïc Gaël Benoît Jürgen Günther Lukas Maximilian Søren Bjørn Åke Håkon
Mikołaj Łukasz Paweł Jiří Tomáš Lajos Giuseppe Luca Matteo Niccolò João Gonçalo Mehmet Emre
Yusuf Omar Ahmed Karim Tariq Arjun Rahul Vikram Rohan Wei Jun Hao Haruto Sota Min-jun Seo-jun
Minh Huy Chinedu Emeka Kwame Kofi Tendai Sipho Mamadou Ousmane
`
  .trim()
  .split(/\s+/);

const CITIES: readonly [string, string, string][] = [
  ['Boston', 'MA', '021'],
  ['Springfield', 'IL', '627'],
  ['Austin', 'TX', '787'],
  ['San José', 'CA', '951'],
  ['Seattle', 'WA', '981'],
  ['Denver', 'CO', '802'],
  ['Miami', 'FL', '331'],
  ['Albuquerque', 'NM', '871'],
  ['Portland', 'OR', '972'],
  ['Minneapolis', 'MN', '554'],
  ['Atlanta', 'GA', '303'],
  ['Baton Rouge', 'LA', '708'],
];
const STREETS = ['Main St', 'Oak Ave', 'Elm St', 'Cedar Ln', 'Maple Dr', 'Pine Rd', 'Lake Blvd'];

/** Skewed like a real population: the first 50 names of a list are about four times as common. */
function weighted<T>(rng: Random, list: readonly T[]): T {
  return rng() < 0.3 ? list[Math.floor(rng() * Math.min(50, list.length))]! : pick(rng, list);
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** A date from 1930-01-01 to 2020-12-31. */
function birthDate(rng: Random): string {
  const from = Date.UTC(1930, 0, 1);
  const to = Date.UTC(2020, 11, 31);
  return new Date(from + Math.floor(rng() * ((to - from) / 86_400_000 + 1)) * 86_400_000)
    .toISOString()
    .slice(0, 10);
}

export function syntheticPatient(rng: Random, n: number): Patient {
  const r = rng();
  const gender = r < 0.49 ? 'female' : r < 0.98 ? 'male' : r < 0.99 ? 'other' : 'unknown';
  const givenList =
    gender === 'female'
      ? GIVEN_FEMALE
      : gender === 'male'
        ? GIVEN_MALE
        : pick(rng, [GIVEN_FEMALE, GIVEN_MALE]);
  const given = [weighted(rng, givenList)];
  if (rng() < 0.3) given.push(pick(rng, givenList));
  const [city, state, zip] = pick(rng, CITIES);
  return {
    resourceType: 'Patient',
    identifier: [
      {
        use: 'usual',
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
        },
        system: 'urn:oid:2.16.840.1.113883.19.5',
        value: `MRN${pad(n, 8)}`,
      },
    ],
    active: rng() > 0.02,
    name: [{ use: 'official', family: weighted(rng, FAMILY_NAMES), given }],
    telecom: [
      {
        system: 'phone',
        value: `+1 555-${pad(Math.floor(rng() * 1000), 3)}-${pad(n % 10000, 4)}`,
        use: 'mobile',
      },
    ],
    gender,
    birthDate: birthDate(rng),
    address: [
      {
        use: 'home',
        line: [`${1 + Math.floor(rng() * 9000)} ${pick(rng, STREETS)}`],
        city,
        state,
        postalCode: `${zip}${pad(Math.floor(rng() * 100), 2)}`,
        country: 'US',
      },
    ],
  };
}

const ENCOUNTER_TYPES = [
  ['185389009', 'Follow-up visit'],
  ['308335008', 'Patient encounter procedure'],
  ['390906007', 'Follow-up encounter'],
  ['185349003', 'Encounter for check up'],
] as const;

/** A telehealth visit of the given patient, some time from 2015 to 2025. */
export function syntheticEncounter(rng: Random, n: number, patientId: string): Encounter {
  const start = Date.UTC(2015, 0, 1) + Math.floor(rng() * 10 * 365 * 86_400_000);
  const end = start + (10 + Math.floor(rng() * 50)) * 60_000;
  const [code, display] = pick(rng, ENCOUNTER_TYPES);
  const r = rng();
  const virtual = rng() < 0.7;
  return {
    resourceType: 'Encounter',
    identifier: [{ system: 'urn:telefhir:visit', value: `V${pad(n, 8)}` }],
    status: r < 0.85 ? 'finished' : r < 0.92 ? 'cancelled' : r < 0.97 ? 'planned' : 'in-progress',
    class: {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      code: virtual ? 'VR' : 'AMB',
      display: virtual ? 'virtual' : 'ambulatory',
    },
    type: [{ coding: [{ system: 'http://snomed.info/sct', code, display }] }],
    subject: { reference: `Patient/${patientId}` },
    period: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
  };
}
