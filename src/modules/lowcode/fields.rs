//! Pure rules: parsing a form's field list and validating a submission against it, and rendering a page
//! preview. Errors are keyed by field name so the console can show them next to the field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Field name → reason.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Textarea,
    Number,
    Select,
    Radio,
    Checkbox,
    Date,
    Switch,
    Email,
    Time,
    RichText,
    Upload,
    Cascader,
    Transfer,
}

impl FieldKind {
    /// Accepts the canonical names and the designer's widget aliases, case-insensitively.
    fn parse(raw: &str) -> Option<Self> {
        let k = raw.trim().to_ascii_lowercase().replace(['-', '_'], "");
        Some(match k.as_str() {
            "text" | "input" | "string" | "password" => Self::Text,
            "textarea" => Self::Textarea,
            "number" | "inputnumber" | "rate" | "slider" => Self::Number,
            "select" => Self::Select,
            "radio" => Self::Radio,
            "checkbox" => Self::Checkbox,
            "date" | "datepicker" => Self::Date,
            "switch" | "boolean" => Self::Switch,
            "email" => Self::Email,
            "time" | "timepicker" => Self::Time,
            "richtext" | "editor" => Self::RichText,
            "upload" | "file" | "image" => Self::Upload,
            "cascader" => Self::Cascader,
            "transfer" => Self::Transfer,
            _ => return None,
        })
    }

    fn needs_options(self) -> bool {
        matches!(self, Self::Select | Self::Radio | Self::Checkbox)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    /// Option values (`[{label, value}]` or plain values in the definition).
    pub options: Vec<Value>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub max_length: Option<u64>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn number_of(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{key} 必须是数字")),
    }
}

/// Parses and checks a form definition: an array of fields or an object with a `fields` array.
/// `Err` carries one reason per offending field (keyed `fields[i]` when the name itself is unusable).
pub fn parse_fields(form_json: &str) -> Result<Vec<FieldDef>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let value: Value = match serde_json::from_str(form_json) {
        Ok(v) => v,
        Err(_) => {
            errors.insert("form_json".into(), "不是合法的 JSON".into());
            return Err(errors);
        }
    };
    let items = match &value {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("fields") {
            Some(Value::Array(a)) => a,
            _ => {
                errors.insert(
                    "form_json".into(),
                    "须为字段数组或含 fields 数组的对象".into(),
                );
                return Err(errors);
            }
        },
        _ => {
            errors.insert(
                "form_json".into(),
                "须为字段数组或含 fields 数组的对象".into(),
            );
            return Err(errors);
        }
    };

    let mut fields = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let slot = format!("fields[{i}]");
        let Some(obj) = item.as_object() else {
            errors.insert(slot, "字段定义须为对象".into());
            continue;
        };
        // The console's designer names the key `field`; `name` is the documented one.
        let name = match obj.get("name").or_else(|| obj.get("field")) {
            Some(Value::String(s)) if valid_name(s) => s.clone(),
            Some(Value::String(s)) if !s.is_empty() => {
                errors.insert(slot, format!("字段名 {s} 不合法"));
                continue;
            }
            _ => {
                errors.insert(slot, "缺少字段名 name".into());
                continue;
            }
        };
        if fields.iter().any(|f: &FieldDef| f.name == name) || errors.contains_key(&name) {
            errors.insert(name, "字段名重复".into());
            continue;
        }
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some(t) => match FieldKind::parse(t) {
                Some(k) => k,
                None => {
                    errors.insert(name, format!("不支持的字段类型 {t}"));
                    continue;
                }
            },
            None => {
                errors.insert(name, "缺少字段类型 type".into());
                continue;
            }
        };
        let label = obj
            .get("label")
            .and_then(Value::as_str)
            .unwrap_or(&name)
            .to_string();
        let required = match obj.get("required") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.insert(name, "required 必须是布尔值".into());
                continue;
            }
        };
        let options: Vec<Value> = match obj.get("options") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|o| match o {
                    Value::Object(m) => m.get("value").cloned().unwrap_or(Value::Null),
                    other => other.clone(),
                })
                .collect(),
            Some(_) => {
                errors.insert(name, "options 必须是数组".into());
                continue;
            }
        };
        if kind.needs_options() && options.is_empty() {
            errors.insert(name, "选项 options 不能为空".into());
            continue;
        }
        if options
            .iter()
            .any(|o| o.is_null() || o.is_array() || o.is_object())
        {
            errors.insert(name, "选项值必须是字符串、数字或布尔值".into());
            continue;
        }
        let (min, max) = match (number_of(obj, "min"), number_of(obj, "max")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                errors.insert(name, e);
                continue;
            }
        };
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            errors.insert(name, "min 不能大于 max".into());
            continue;
        }
        let max_length = match obj.get("maxLength").or_else(|| obj.get("max_length")) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => {
                    errors.insert(name, "maxLength 必须是非负整数".into());
                    continue;
                }
            },
        };
        fields.push(FieldDef {
            name,
            label,
            kind,
            required,
            options,
            min,
            max,
            max_length,
        });
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(errors)
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn valid_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

fn is_scalar(v: &Value) -> bool {
    v.is_string() || v.is_number()
}

fn valid_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn check_value(f: &FieldDef, v: &Value) -> Result<(), String> {
    match f.kind {
        FieldKind::Text | FieldKind::Textarea | FieldKind::RichText | FieldKind::Email => {
            let Some(s) = v.as_str() else {
                return Err("必须是字符串".into());
            };
            let len = s.chars().count() as u64;
            if let Some(max) = f.max_length
                && len > max
            {
                return Err(format!("长度不能超过 {max}"));
            }
            if f.kind == FieldKind::Email && !valid_email(s) {
                return Err("邮箱格式不正确".into());
            }
            Ok(())
        }
        FieldKind::Number => {
            let Some(n) = v.as_f64() else {
                return Err("必须是数字".into());
            };
            if let Some(min) = f.min
                && n < min
            {
                return Err(format!("不能小于 {min}"));
            }
            if let Some(max) = f.max
                && n > max
            {
                return Err(format!("不能大于 {max}"));
            }
            Ok(())
        }
        FieldKind::Switch => v.as_bool().map(|_| ()).ok_or_else(|| "必须是布尔值".into()),
        FieldKind::Date => match v.as_str() {
            Some(s) if valid_date(s) => Ok(()),
            _ => Err("日期格式须为 YYYY-MM-DD".into()),
        },
        FieldKind::Select | FieldKind::Radio => {
            if f.options.contains(v) {
                Ok(())
            } else {
                Err("不是有效的选项".into())
            }
        }
        FieldKind::Time => v
            .as_str()
            .map(|_| ())
            .ok_or_else(|| "时间须为字符串".into()),
        // A file URL, or the upload widget's list of files.
        FieldKind::Upload => match v {
            Value::String(_) => Ok(()),
            Value::Array(files) if files.iter().all(|f| f.is_string() || f.is_object()) => Ok(()),
            _ => Err("须为文件地址或文件列表".into()),
        },
        // The path of values through the option tree, or a single value.
        FieldKind::Cascader => match v {
            Value::String(_) | Value::Number(_) => Ok(()),
            Value::Array(path) if path.iter().all(is_scalar) => Ok(()),
            _ => Err("须为选项值或选项路径".into()),
        },
        FieldKind::Transfer => {
            let Some(items) = v.as_array().filter(|a| a.iter().all(is_scalar)) else {
                return Err("必须是选项数组".into());
            };
            if !f.options.is_empty() && items.iter().any(|i| !f.options.contains(i)) {
                return Err("包含无效的选项".into());
            }
            Ok(())
        }
        FieldKind::Checkbox => {
            let Some(items) = v.as_array() else {
                return Err("必须是选项数组".into());
            };
            if items.iter().any(|i| !f.options.contains(i)) {
                return Err("包含无效的选项".into());
            }
            if let Some(max) = f.max_length
                && items.len() as u64 > max
            {
                return Err(format!("最多选择 {max} 项"));
            }
            Ok(())
        }
    }
}

/// Validates a submitted object against the field list. Keys the form does not define are kept as sent.
pub fn validate_submission(
    fields: &[FieldDef],
    data: &Map<String, Value>,
) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    for f in fields {
        match data.get(&f.name) {
            Some(v) if !is_empty(v) => {
                if let Err(e) = check_value(f, v) {
                    errors.insert(f.name.clone(), e);
                }
            }
            _ if f.required => {
                errors.insert(f.name.clone(), "必填".into());
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `"a: reason; b: reason"`.
pub fn describe(errors: &FieldErrors) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A minimal HTML rendering of a page definition: the title, then one block per component (an array, or
/// `{components: [...]}`). Every stored string is escaped; nothing from the definition reaches the output raw.
pub fn render_page(title: &str, page_json: &str) -> String {
    let value: Value = serde_json::from_str(page_json).unwrap_or(Value::Null);
    let components: Vec<Value> = match value {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("components").or_else(|| o.remove("items")) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let title = escape_html(title);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n"
    );
    for c in &components {
        let (kind, label, text) = match c {
            Value::Object(o) => (
                text_of(o.get("type")),
                text_of(o.get("label")),
                text_of(o.get("text").or_else(|| o.get("content"))),
            ),
            other => (String::new(), String::new(), text_of(Some(other))),
        };
        html.push_str(&format!(
            "<div class=\"lc-component\" data-type=\"{}\">",
            escape_html(&kind)
        ));
        if !label.is_empty() {
            html.push_str(&format!("<label>{}</label>", escape_html(&label)));
        }
        if !text.is_empty() {
            html.push_str(&format!("<span>{}</span>", escape_html(&text)));
        }
        html.push_str("</div>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn accepts_an_array_or_an_object_with_fields() {
        let arr = r#"[{"name":"a","type":"text"}]"#;
        let wrapped = r#"{"fields":[{"field":"a","type":"input"}]}"#;
        assert_eq!(parse_fields(arr).map(|f| f.len()), Ok(1));
        assert_eq!(
            parse_fields(wrapped).map(|f| f[0].kind),
            Ok(FieldKind::Text)
        );
    }

    #[test]
    fn rejects_bad_definitions_with_the_field_name() {
        let e = parse_fields(r#"[{"name":"a","type":"weird"}]"#).unwrap_err();
        assert!(e["a"].contains("weird"));
        let e = parse_fields(r#"[{"name":"s","type":"select","options":[]}]"#).unwrap_err();
        assert!(e.contains_key("s"));
        let e = parse_fields(r#"[{"name":"1x","type":"text"}]"#).unwrap_err();
        assert!(e.contains_key("fields[0]"));
        let e =
            parse_fields(r#"[{"name":"a","type":"text"},{"name":"a","type":"text"}]"#).unwrap_err();
        assert_eq!(e["a"], "字段名重复");
        assert!(parse_fields("{oops").is_err());
        assert!(parse_fields("42").is_err());
    }

    #[test]
    fn validates_submissions_by_type_and_limits() {
        let fields = parse_fields(
            r#"[{"name":"n","type":"number","min":1,"max":5,"required":true},
                {"name":"c","type":"checkbox","options":[{"label":"A","value":"a"},"b"]},
                {"name":"e","type":"email"},{"name":"d","type":"date"},{"name":"s","type":"switch"},
                {"name":"t","type":"text","maxLength":3}]"#,
        )
        .unwrap();
        assert!(validate_submission(&fields, &obj(json!({"n": 3, "c": ["a","b"]}))).is_ok());
        let e = validate_submission(
            &fields,
            &obj(
                json!({"n": 9, "c": ["z"], "e": "x@", "d": "2024-13-01", "s": "yes", "t": "abcd"}),
            ),
        )
        .unwrap_err();
        assert_eq!(e.len(), 6);
        let e = validate_submission(&fields, &obj(json!({}))).unwrap_err();
        assert_eq!(e["n"], "必填");
    }

    #[test]
    fn every_widget_of_the_console_designer_is_accepted() {
        // The palette of the admin console's form designer (views/lowcode/forms), as it saves items.
        let kinds = [
            "input", "textarea", "number", "date", "time", "select", "radio", "checkbox", "switch",
            "upload", "richtext", "cascader", "transfer",
        ];
        let items: Vec<Value> = kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                json!({"id": i, "type": kind, "label": kind, "field": format!("f{i}"),
                       "placeholder": "", "defaultValue": "", "required": false, "disabled": false,
                       "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]})
            })
            .collect();
        let fields = parse_fields(&Value::Array(items).to_string()).expect("designer form");
        assert_eq!(fields.len(), kinds.len());
        let good = obj(json!({
            "f0": "x", "f1": "y", "f2": 3, "f3": "2026-11-27", "f4": "10:30:00", "f5": "a",
            "f6": "b", "f7": ["a"], "f8": true, "f9": ["/uploads/a.png"], "f10": "<p>hi</p>",
            "f11": ["a", "b"], "f12": ["a"]
        }));
        assert_eq!(validate_submission(&fields, &good), Ok(()));
        let bad = obj(json!({"f4": 7, "f9": 1, "f11": {"a": 1}, "f12": ["z"]}));
        let errors = validate_submission(&fields, &bad).unwrap_err();
        assert_eq!(
            errors.keys().cloned().collect::<Vec<_>>(),
            ["f11", "f12", "f4", "f9"]
        );
    }

    #[test]
    fn preview_escapes_every_string() {
        let html = render_page(
            "<script>x</script>",
            r#"[{"type":"text\"","label":"<b>","text":"<script>alert(1)</script>"}]"#,
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;"));
    }
}
