import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  StandardThreatProtectionMode,
  UserPool,
  type UserPoolClient,
} from 'aws-cdk-lib/aws-cognito'
import { Construct } from 'constructs'

export interface AuthProps {
  readonly featurePlan: 'lite' | 'essentials' | 'plus'
  readonly threatProtection: 'off' | 'audit' | 'enforced'
  readonly selfSignUp: boolean
  readonly retain: boolean
}

/** The Cognito group names the backend understands. */
export const GROUPS = { admin: 'admin', trainer: 'trainer' } as const

const FEATURE_PLANS = { lite: FeaturePlan.LITE, essentials: FeaturePlan.ESSENTIALS, plus: FeaturePlan.PLUS } as const
const THREAT_PROTECTION = {
  audit: StandardThreatProtectionMode.AUDIT_ONLY,
  enforced: StandardThreatProtectionMode.FULL_FUNCTION,
} as const

/**
 * Members and trainers sign in with their email. The mobile apps are public clients (no secret)
 * using SRP, so the password never leaves the device. The backend verifies the ID token (it carries
 * email, name and `cognito:groups`), hence JWT_TOKEN_USE=id.
 */
export class Auth extends Construct {
  readonly userPool: UserPool
  readonly mobileClient: UserPoolClient

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id)

    this.userPool = new UserPool(this, 'UserPool', {
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      keepOriginal: { email: true },
      selfSignUpEnabled: props.selfSignUp,
      standardAttributes: { email: { required: true, mutable: true }, fullname: { required: false, mutable: true } },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FEATURE_PLANS[props.featurePlan],
      ...(props.threatProtection !== 'off' ? { standardThreatProtectionMode: THREAT_PROTECTION[props.threatProtection] } : {}),
      deletionProtection: props.retain,
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    })

    this.mobileClient = this.userPool.addClient('MobileClient', {
      generateSecret: false,
      authFlows: { userSrp: true },
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    })

    this.userPool.addGroup('AdminGroup', {
      groupName: GROUPS.admin,
      description: 'Operators: may call /admin/* (the backend also checks the database role)',
      precedence: 0,
    })
    this.userPool.addGroup('TrainerGroup', { groupName: GROUPS.trainer, description: 'Trainers', precedence: 10 })

    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG2',
      reason:
        'MFA is optional by product decision: members are consumers signing in on their own phone, and forcing TOTP at sign-up loses them. TOTP is offered to everyone; operators are expected to enroll (docs/deploy.md).',
    })
    if (props.featurePlan !== 'plus') {
      Validations.of(this.userPool).acknowledge({
        id: 'AwsSolutions-COG8',
        reason: `This stage runs the ${props.featurePlan} feature plan to stay in the free/low MAU pricing; threat protection needs Plus, which prod enables (see the cost table in docs/deploy.md).`,
      })
    }
  }

  /** `iss` of the user pool's tokens; the JWKS lives at `${issuer}/.well-known/jwks.json`. */
  get issuer(): string {
    return `https://cognito-idp.${Stack.of(this).region}.${Stack.of(this).urlSuffix}/${this.userPool.userPoolId}`
  }
}
