import ExactJSON
import Foundation
import Sync

/// One row of a SuiteQL table: columns in the table's order; a null column is absent.
struct SuiteQLRow {
    var ordered: [(key: String, value: SQLValue)] = []

    subscript(name: String) -> SQLValue? {
        ordered.first { $0.key == name }?.value
    }

    mutating func set(_ name: String, _ value: SQLValue?) {
        guard let value else { return }
        if let index = ordered.firstIndex(where: { $0.key == name }) {
            ordered[index].value = value
        } else {
            ordered.append((name, value))
        }
    }
}

/// The tables SuiteQL reads, built from the simulated account's records and catalogue.
///
/// Table and column names follow the NetSuite Records Catalog's SuiteQL names as commonly
/// used (Oracle's Records Catalog is a page inside an account, not in the Help Center, so
/// these could not be checked against an Oracle page; the simulator's choices):
/// - `customer`: id, entityid, companyname, email, externalid, firstname, lastname, isperson
///   (T/F), phone, subsidiary, currency, isinactive (F), datecreated, lastmodifieddate.
/// - `transaction`: the sync's transactions. id, tranid, externalid, type (CustInvc, CustCred,
///   CustPymt, CustRfnd, SalesOrd), entity, trandate, currency, subsidiary, memo, total and
///   foreigntotal (the same: one currency per transaction here, a payment's `payment`),
///   foreignamountremaining (invoices and credit memos), status (invoice 'A' open / 'B' paid in
///   full, credit memo 'A' open / 'B' fully applied; NetSuite's one-letter status codes, no
///   Oracle page found that lists them), createddate, lastmodifieddate.
/// - `item`: id, itemid, displayname, itemtype (Service), isinactive (F).
/// - `account`: id, acctnumber, acctname, fullname, accttype, isinactive.
/// - `subsidiary`: id, name, currency, isinactive. `currency`: id, symbol (the ISO code),
///   name, isbasecurrency, isinactive. `location`: id, name, subsidiary, isinactive.
/// - `salestaxitem` (tax codes: the catalogue's SuiteTax tax codes and legacy tax items): id,
///   itemid, description, rate, taxtype, isinactive. `taxtype`: id, name, isinactive.
///   `nexus`: id, description, country. (The REST/SOAP record ids salesTaxItem, taxType and
///   nexus; NetSuite's Records Browser, https://system.netsuite.com/help/helpcenter/en_US/srbrowser/Browser2017_2/schema/record/salestaxitem.html.)
/// - `contact`, custom records (`customrecord_…`) and every other generic type: id, externalid,
///   every top-level body field lower-cased (a string, number, or T/F; a reference
///   `{"id": …}` gives the id), datecreated, lastmodifieddate, and for custom records also
///   created and lastmodified. These tables accept any column name (unknown ones are null):
///   the simulator knows no schema for them.
struct SuiteQLTables {
    let store: RecordStore
    let catalogue: NetSuiteSimulator.Catalogue
    let items: [String: NetSuiteSimulator.Item]

    /// A table's rows, and its columns (nil: any column may be named).
    struct Table {
        let columns: Set<String>?
        let rows: [SuiteQLRow]
    }

    static let customerColumns: Set<String> = [
        "id", "entityid", "companyname", "email", "externalid", "firstname", "lastname", "isperson", "phone", "subsidiary",
        "currency", "isinactive", "datecreated", "lastmodifieddate",
    ]
    static let transactionColumns: Set<String> = [
        "id", "tranid", "externalid", "type", "entity", "trandate", "currency", "subsidiary", "memo", "total", "foreigntotal",
        "foreignamountremaining", "status", "createddate", "lastmodifieddate",
    ]

    func table(_ name: String) throws(NetSuiteErrorBody) -> Table {
        let reference = catalogue.reference
        switch name {
        case "customer":
            return Table(columns: Self.customerColumns, rows: store.records(.customer).map(customerRow))
        case "transaction":
            let types: [NetSuiteSimulator.RecordType] = [.invoice, .creditMemo, .customerPayment, .customerRefund, .salesOrder]
            let rows = types.flatMap { store.records($0) }.sorted { (Int($0.internalID) ?? 0) < (Int($1.internalID) ?? 0) }
            return Table(columns: Self.transactionColumns, rows: rows.map(transactionRow))
        case "item":
            let rows = catalogue.items.map { item in
                row([
                    ("id", .number(item.id)), ("itemid", .text(item.name)), ("displayname", .text(item.name)),
                    ("itemtype", .text("Service")), ("isinactive", .text("F")),
                ])
            }
            return Table(columns: ["id", "itemid", "displayname", "itemtype", "isinactive"], rows: sortedByID(rows))
        case "account":
            let rows = reference.accounts.map { account in
                row([
                    ("id", .number(account.id)), ("acctnumber", .text(account.number)), ("acctname", .text(account.name)),
                    ("fullname", .text(account.name)), ("accttype", .text(account.type)), ("isinactive", .text("F")),
                ])
            }
            return Table(columns: ["id", "acctnumber", "acctname", "fullname", "accttype", "isinactive"], rows: sortedByID(rows))
        case "subsidiary":
            let rows = catalogue.subsidiaries.map { id in
                row([
                    ("id", .number(id)), ("name", .text(reference.subsidiaryNames[id] ?? "Subsidiary \(id)")),
                    ("currency", reference.subsidiaryCurrencies[id].map(SQLValue.number)), ("isinactive", .text("F")),
                ])
            }
            return Table(columns: ["id", "name", "currency", "isinactive"], rows: sortedByID(rows))
        case "currency":
            let rows = catalogue.currencies.map { id in
                let known = reference.currencies[id]
                return row([
                    ("id", .number(id)), ("symbol", known.map { .text($0.code) }), ("name", .text(known?.name ?? "Currency \(id)")),
                    ("isbasecurrency", .text(id == reference.baseCurrency ? "T" : "F")), ("isinactive", .text("F")),
                ])
            }
            return Table(columns: ["id", "symbol", "name", "isbasecurrency", "isinactive"], rows: sortedByID(rows))
        case "location":
            let rows = catalogue.locations.map { id in
                row([
                    ("id", .number(id)), ("name", .text(reference.locationNames[id] ?? "Location \(id)")),
                    ("subsidiary", catalogue.subsidiaries.min().map(SQLValue.number)), ("isinactive", .text("F")),
                ])
            }
            return Table(columns: ["id", "name", "subsidiary", "isinactive"], rows: sortedByID(rows))
        case "salestaxitem":
            let rows = catalogue.taxCodes.union(catalogue.taxItems).map { id in
                let known = reference.taxCodes[id]
                return row([
                    ("id", .number(id)), ("itemid", .text(known?.name ?? "Tax code \(id)")),
                    ("description", known.map { .text($0.name) }), ("rate", known.map { .text($0.rate) }),
                    ("taxtype", known?.taxType.map(SQLValue.number)), ("isinactive", .text("F")),
                ])
            }
            return Table(columns: ["id", "itemid", "description", "rate", "taxtype", "isinactive"], rows: sortedByID(rows))
        case "taxtype":
            let rows = catalogue.taxTypes.map { id in
                row([("id", .number(id)), ("name", .text(reference.taxTypeNames[id] ?? "Tax type \(id)")), ("isinactive", .text("F"))])
            }
            return Table(columns: ["id", "name", "isinactive"], rows: sortedByID(rows))
        case "nexus":
            let rows = catalogue.nexuses.map { id in
                let known = reference.nexuses[id]
                return row([
                    ("id", .number(id)), ("description", .text(known?.description ?? "Nexus \(id)")),
                    ("country", known.map { .text($0.country) }),
                ])
            }
            return Table(columns: ["id", "description", "country"], rows: sortedByID(rows))
        default:
            if NetSuiteSimulator.RecordType(pathSegment: name) != nil {
                throw .invalidQuery("Record '\(name)' is read through the transaction table in the simulator's SuiteQL.")
            }
            guard let type = GenericRecordTypes.canonical(name) else {
                throw .invalidQuery(
                    "Record '\(name)' is not supported by the simulator's SuiteQL (customer, transaction, item, account, subsidiary, currency, location, salestaxitem, taxtype, nexus, contact and other generic types, customrecord_…)."
                )
            }
            let custom = type.hasPrefix("customrecord")
            return Table(columns: nil, rows: store.genericRecords(type).map { genericRow($0, custom: custom) })
        }
    }

    private func row(_ columns: [(String, SQLValue?)]) -> SuiteQLRow {
        var row = SuiteQLRow()
        for (name, value) in columns { row.set(name, value) }
        return row
    }

    private func sortedByID(_ rows: [SuiteQLRow]) -> [SuiteQLRow] {
        rows.sorted { SuiteQLQuery.less($0["id"] ?? .text(""), $1["id"] ?? .text("")) }
    }

    /// A body field as a column value: text, a number's literal, T/F, or a reference's id.
    static func columnValue(_ value: ExactJSON) -> SQLValue? {
        switch value {
        case .string(let text): .text(text)
        case .number(let text): .number(text)
        case .bool(let flag): .text(flag ? "T" : "F")
        case .object:
            value.referenceID.map { id in id.allSatisfy { $0.isASCII && $0.isNumber } ? .number(id) : .text(id) }
        default: nil
        }
    }

    private func bodyColumns(_ body: ExactJSON, into row: inout SuiteQLRow, only: Set<String>? = nil) {
        for member in body.objectMembers {
            let name = member.key.lowercased()
            guard only.map({ $0.contains(name) }) ?? true, row[name] == nil else { continue }
            row.set(name, Self.columnValue(member.value))
        }
    }

    private func customerRow(_ record: NetSuiteSimulator.Record) -> SuiteQLRow {
        var row = SuiteQLRow()
        row.set("id", .number(record.internalID))
        row.set("externalid", .text(record.externalID))
        bodyColumns(record.body, into: &row, only: Self.customerColumns.subtracting(["isinactive", "datecreated", "lastmodifieddate"]))
        row.set("isperson", .text(record.body["isPerson"]?.boolValue == true ? "T" : "F"))
        row.set("isinactive", .text(record.body["isInactive"]?.boolValue == true ? "T" : "F"))
        row.set("datecreated", .date(record.createdAt))
        row.set("lastmodifieddate", .date(record.updatedAt))
        return row
    }

    static func typeCode(_ type: NetSuiteSimulator.RecordType) -> String {
        switch type {
        case .invoice: "CustInvc"
        case .creditMemo: "CustCred"
        case .customerPayment: "CustPymt"
        case .customerRefund: "CustRfnd"
        case .salesOrder: "SalesOrd"
        case .customer: "Customer"
        }
    }

    private func transactionRow(_ record: NetSuiteSimulator.Record) -> SuiteQLRow {
        var row = SuiteQLRow()
        row.set("id", .number(record.internalID))
        row.set("tranid", record.string("tranId").map(SQLValue.text))
        row.set("externalid", .text(record.externalID))
        row.set("type", .text(Self.typeCode(record.type)))
        row.set("entity", (record.reference("entity") ?? record.reference("customer")).map(SQLValue.number))
        for (column, field) in [("trandate", "tranDate"), ("memo", "memo")] {
            row.set(column, record.string(field).map(SQLValue.text))
        }
        for (column, field) in [("currency", "currency"), ("subsidiary", "subsidiary")] {
            row.set(column, record.reference(field).map(SQLValue.number))
        }
        row.set("total", record.total.map(SQLValue.number))
        row.set("foreigntotal", record.total.map(SQLValue.number))
        for field in store.derivedFields(record) {
            switch field.key {
            case "amountRemaining": row.set("foreignamountremaining", field.value.numberText.map(SQLValue.number))
            case "status": row.set("status", .text(field.value["refName"]?.stringValue == "Open" ? "A" : "B"))
            default: break
            }
        }
        row.set("createddate", .date(record.createdAt))
        row.set("lastmodifieddate", .date(record.updatedAt))
        return row
    }

    private func genericRow(_ record: NetSuiteSimulator.GenericRecord, custom: Bool) -> SuiteQLRow {
        var row = SuiteQLRow()
        row.set("id", .number(record.internalID))
        row.set("externalid", record.externalID.map(SQLValue.text))
        bodyColumns(record.body, into: &row)
        row.set("datecreated", .date(record.createdAt))
        row.set("lastmodifieddate", .date(record.updatedAt))
        if custom {
            row.set("created", .date(record.createdAt))
            row.set("lastmodified", .date(record.updatedAt))
        }
        return row
    }
}
