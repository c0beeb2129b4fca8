//! Root's own MFA devices by kind, as only a root session can list them: the kind of each
//! device is told by its serial number.

use serde::Serialize;

/// The kind of an MFA device, told by its serial number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaKind {
    /// A virtual (authenticator app) device: an ARN with `:mfa/`.
    Virtual,
    /// A FIDO security key or passkey: an ARN with `:u2f/`.
    Fido,
    /// A hardware TOTP token: a serial that is not an ARN.
    HardwareTotp,
}

impl MfaKind {
    /// Every kind, in the order the `type` label values are exported.
    pub const ALL: [MfaKind; 3] = [MfaKind::Virtual, MfaKind::Fido, MfaKind::HardwareTotp];

    /// The value of the `type` label and of JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaKind::Virtual => "virtual",
            MfaKind::Fido => "fido",
            MfaKind::HardwareTotp => "hardware_totp",
        }
    }

    /// The kind of the device with this `SerialNumber`, as `iam:ListMFADevices` reports it.
    ///
    /// IAM names virtual and FIDO devices by ARN (`arn:aws:iam::ACCOUNT:mfa/NAME`,
    /// `arn:aws:iam::ACCOUNT:u2f/…`) and hardware TOTP tokens by the serial printed on them
    /// (`GAHT12345678`). An ARN of any other resource type is not a device IAM knows of, and
    /// an empty serial (the SDK fills a missing one with "") says nothing: both are read as
    /// virtual, the kind that fails IAM.6, so that an unknown never passes the control.
    pub fn from_serial(serial: &str) -> MfaKind {
        if serial.is_empty() {
            return MfaKind::Virtual;
        }
        if !serial.starts_with("arn:") {
            return MfaKind::HardwareTotp;
        }
        // arn:PARTITION:iam::ACCOUNT:RESOURCE; the resource is everything after the fifth colon.
        let resource = serial.splitn(6, ':').nth(5).unwrap_or("");
        if resource.starts_with("u2f/") {
            MfaKind::Fido
        } else {
            MfaKind::Virtual
        }
    }
}

/// Root's own MFA devices by kind, as a root session lists them (every page): exact, where
/// the virtual device list only allows an inference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Virtual (authenticator app) devices.
    #[serde(rename = "virtual")]
    pub virtual_: u32,
    /// FIDO security keys and passkeys.
    pub fido: u32,
    /// Hardware TOTP tokens.
    pub hardware_totp: u32,
}

impl Inventory {
    /// The inventory of the devices with these serial numbers.
    pub fn of<'a>(serials: impl IntoIterator<Item = &'a str>) -> Inventory {
        let mut inventory = Inventory::default();
        for serial in serials {
            let count = match MfaKind::from_serial(serial) {
                MfaKind::Virtual => &mut inventory.virtual_,
                MfaKind::Fido => &mut inventory.fido,
                MfaKind::HardwareTotp => &mut inventory.hardware_totp,
            };
            *count = count.saturating_add(1);
        }
        inventory
    }

    /// How many devices of `kind`.
    pub fn count(&self, kind: MfaKind) -> u32 {
        match kind {
            MfaKind::Virtual => self.virtual_,
            MfaKind::Fido => self.fido,
            MfaKind::HardwareTotp => self.hardware_totp,
        }
    }

    /// How many devices in all.
    pub fn total(&self) -> u32 {
        MfaKind::ALL.iter().map(|k| self.count(*k)).sum()
    }

    /// A short description for people: `virtual 1, fido 1`, or `none`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = MfaKind::ALL
            .iter()
            .filter(|k| self.count(**k) > 0)
            .map(|k| format!("{} {}", k.as_str(), self.count(*k)))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn virt(n: &str) -> String {
        format!("arn:aws:iam::123456789012:mfa/{n}")
    }

    fn fido(n: &str) -> String {
        format!("arn:aws:iam::123456789012:u2f/root-account-mfa-device/{n}")
    }

    #[test]
    fn device_kind_from_serial_number() {
        let cases = [
            (
                "arn:aws:iam::123456789012:mfa/root-account-mfa-device",
                MfaKind::Virtual,
            ),
            ("arn:aws:iam::123456789012:mfa/phone", MfaKind::Virtual),
            (
                "arn:aws-cn:iam::123456789012:mfa/path/phone",
                MfaKind::Virtual,
            ),
            (
                "arn:aws:iam::123456789012:u2f/root-account-mfa-device/YubiKeyABCD",
                MfaKind::Fido,
            ),
            (
                "arn:aws-us-gov:iam::123456789012:u2f/user/x/passkey",
                MfaKind::Fido,
            ),
            ("GAHT12345678", MfaKind::HardwareTotp),
            ("12345678", MfaKind::HardwareTotp),
            // A device name that merely contains "u2f" is still a virtual device.
            ("arn:aws:iam::123456789012:mfa/u2f-backup", MfaKind::Virtual),
            // Not a device ARN IAM knows: read as virtual, so that it never passes IAM.6.
            ("arn:aws:iam::123456789012:user/u2f", MfaKind::Virtual),
            ("arn:", MfaKind::Virtual),
            // Only the exact prefix makes an ARN.
            ("ARN:aws:iam::123456789012:u2f/x", MfaKind::HardwareTotp),
            // No serial at all says nothing: never a hardware token.
            ("", MfaKind::Virtual),
        ];
        for (serial, want) in cases {
            assert_eq!(MfaKind::from_serial(serial), want, "{serial}");
        }
    }

    #[test]
    fn inventory_counts_and_describes() {
        let serials = [virt("a"), fido("b"), fido("c")];
        let inv = Inventory::of(serials.iter().map(String::as_str));
        assert_eq!(inv.total(), 3);
        assert_eq!(MfaKind::ALL.map(|k| inv.count(k)), [1, 2, 0]);
        assert_eq!(inv.describe(), "virtual 1, fido 2");
        assert_eq!(Inventory::default().describe(), "none");
    }
}
